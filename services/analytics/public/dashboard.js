// The analytics dashboard (docs/analytics.md#dashboard): reads the API, draws DAU, and weekly and monthly active
// users, with uPlot and the cohorts as a heat map. Plain browser JavaScript, no build step. window.analyticsDashboard holds what was drawn (the API's
// answers and the chart), which test/dashboard.e2e.test.ts compares with the API.
;(() => {
  const DAY_MS = 86_400_000
  const COHORT_DAYS = 30
  // The estimates route answers at most 92 days (docs/analytics.md#api).
  const ESTIMATE_DAYS = 92
  const $ = (id) => document.getElementById(id)
  const dayOf = (ms) => new Date(ms).toISOString().slice(0, 10)
  const msOf = (day) => Date.parse(`${day}T00:00:00Z`)
  const number = new Intl.NumberFormat('en-US')
  const percent = (share) => `${(share * 100).toFixed(1)}%`

  const state = { ready: false }
  window.analyticsDashboard = state

  // Where the service has a read token (ANALYTICS_READ_TOKEN), the reader types it once; it stays in this tab.
  const TOKEN_KEY = 'analytics-read-token'
  function headers() {
    const token = sessionStorage.getItem(TOKEN_KEY)
    return token ? { accept: 'application/json', authorization: `Bearer ${token}` } : { accept: 'application/json' }
  }

  /** The answer's JSON; an Error with the status and the problem's detail otherwise. */
  async function answer(path, response) {
    const body = await response.json()
    if (response.ok) return body
    throw Object.assign(new Error(body.detail || `${path}: ${response.status}`), { status: response.status })
  }

  async function getJson(path) {
    return answer(path, await fetch(path, { headers: headers() }))
  }

  /** The range in the address (?from=&to=), else the 30 days up to today (UTC). */
  function initialRange() {
    const params = new URLSearchParams(location.search)
    const to = params.get('to') || dayOf(Date.now())
    const from = params.get('from') || dayOf(msOf(to) - 29 * DAY_MS)
    return { from, to }
  }

  function drawTiles(dau, retention, active) {
    $('tile-wau').textContent = number.format(active.week.users)
    $('tile-mau').textContent = number.format(active.month.users)
    $('tile-day').textContent = retention.day
    $('tile-active').textContent = number.format(retention.active)
    $('tile-returning').textContent = number.format(retention.returning)
    $('tile-share').textContent = retention.active === 0 ? '–' : percent(retention.returning / retention.active)
    const average = dau.reduce((sum, d) => sum + d.users, 0) / Math.max(1, dau.length)
    $('tile-average').textContent = number.format(Math.round(average))
  }

  /** A line chart of `lines` (each { label, stroke, values }) over `days` into `container`; returns the uPlot. */
  function lineChart(container, days, lines, previous) {
    const data = [days.map((day) => msOf(day) / 1000), ...lines.map((line) => line.values)]
    const options = {
      width: container.clientWidth,
      height: 300,
      // The x values are UTC midnights: label them as UTC days, whatever the browser's time zone.
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
      scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.1)] } },
      axes: [
        { stroke: '#6b7487', grid: { stroke: '#eef1f6' } },
        { stroke: '#6b7487', grid: { stroke: '#eef1f6' } },
      ],
      series: [
        { label: 'Day', value: (_u, ts) => (ts == null ? '–' : dayOf(ts * 1000)) },
        ...lines.map((line) => ({
          label: line.label,
          stroke: line.stroke,
          width: 2,
          fill: line.fill,
          points: { show: days.length <= 62, size: 5 },
          value: (_u, v) => (v == null ? '–' : number.format(v)),
        })),
      ],
    }
    if (previous) previous.destroy()
    container.textContent = ''
    return new uPlot(options, data, container)
  }

  function drawChart(dau) {
    const lines = [
      { label: 'Active users', stroke: '#3867d6', fill: 'rgba(56, 103, 214, 0.10)', values: dau.map((d) => d.users) },
    ]
    state.chart = lineChart(
      $('dau-chart'),
      dau.map((d) => d.day),
      lines,
      state.chart,
    )

    const body = $('dau-table').tBodies[0]
    body.textContent = ''
    for (const d of dau) {
      const row = body.insertRow()
      row.insertCell().textContent = d.day
      row.insertCell().textContent = number.format(d.users)
    }
  }

  /** Weekly and monthly active users as estimated (null: this deployment has no estimates, the card says so). */
  function drawActiveChart(weekly, monthly) {
    $('active-card').dataset.estimates = weekly ? 'on' : 'off'
    if (!weekly || !monthly) return
    const lines = [
      { label: 'Weekly active (7 days)', stroke: '#20bf6b', values: weekly.days.map((d) => d.users) },
      { label: 'Monthly active (30 days)', stroke: '#8854d0', values: monthly.days.map((d) => d.users) },
    ]
    const days = weekly.days.map((d) => d.day)
    state.activeChart = lineChart($('active-chart'), days, lines, state.activeChart)
    $('active-error').textContent = percent(weekly.standard_error)
  }

  /** The estimates of a window, or null where the database keeps none (501 estimates-unavailable). */
  async function estimates(from, to, window) {
    const path = `/v1/analytics/active-users/estimates?from=${from}&to=${to}&window=${window}`
    const response = await fetch(path, { headers: headers() })
    if (response.status === 501) return null
    return answer(path, response)
  }

  /** Light to deep blue as the share grows towards the table's highest; the text turns white on the dark cells. */
  function heat(cell, share, highest) {
    const strength = highest > 0 ? Math.min(1, share / highest) : 0
    cell.style.background = `hsl(220, 70%, ${96 - strength * 50}%)`
    cell.style.color = strength > 0.55 ? '#fff' : '#1d2433'
  }

  function drawCohorts(cohorts) {
    const table = $('cohorts')
    const head = table.tHead
    head.textContent = ''
    const titles = head.insertRow()
    for (const title of ['Cohort', 'Users', ...[1, 2, 3, 4, 5, 6, 7].map((k) => `+${k} d`)]) {
      const th = document.createElement('th')
      th.textContent = title
      titles.appendChild(th)
    }
    const body = table.tBodies[0]
    body.textContent = ''
    const today = dayOf(Date.now())
    const highest = Math.max(0, ...cohorts.flatMap((c) => c.retained.map((r) => r.share ?? 0)))
    for (const cohort of cohorts) {
      const row = body.insertRow()
      row.dataset.day = cohort.day
      const day = row.insertCell()
      day.className = 'day'
      day.textContent = cohort.day
      const users = row.insertCell()
      users.className = 'users'
      users.textContent = number.format(cohort.users)
      for (const r of cohort.retained) {
        const cell = row.insertCell()
        cell.dataset.afterDays = String(r.after_days)
        if (r.share === null) {
          cell.className = 'pending'
          cell.textContent = '·'
          cell.title = r.users === null ? 'not yet' : 'no users that day'
        } else {
          cell.textContent = percent(r.share)
          cell.title = `${number.format(r.users)} of ${number.format(cohort.users)}`
          heat(cell, r.share, highest)
          // Today is not over: its share grows until midnight UTC.
          if (dayOf(msOf(cohort.day) + r.after_days * DAY_MS) === today) {
            cell.classList.add('partial')
            cell.title += ' (today, so far)'
          }
        }
      }
    }
  }

  async function show(range) {
    document.body.dataset.state = 'loading'
    $('status').textContent = ''
    $('from').value = range.from
    $('to').value = range.to
    const cohortFrom = dayOf(Math.max(msOf(range.from), msOf(range.to) - (COHORT_DAYS - 1) * DAY_MS))
    const estimateFrom = dayOf(Math.max(msOf(range.from), msOf(range.to) - (ESTIMATE_DAYS - 1) * DAY_MS))
    try {
      const [dau, cohorts, retention, week, month, weekly, monthly] = await Promise.all([
        getJson(`/v1/analytics/dau?from=${range.from}&to=${range.to}`),
        getJson(`/v1/analytics/retention/cohorts?from=${cohortFrom}&to=${range.to}`),
        getJson(`/v1/analytics/retention?day=${range.to}`),
        getJson(`/v1/analytics/active-users?day=${range.to}&window=7`),
        getJson(`/v1/analytics/active-users?day=${range.to}&window=30`),
        estimates(estimateFrom, range.to, 7),
        estimates(estimateFrom, range.to, 30),
      ])
      const active = { week, month, weekly, monthly }
      Object.assign(state, { range, dau, cohorts, retention, active })
      drawTiles(dau, retention, active)
      drawChart(dau)
      drawActiveChart(weekly, monthly)
      drawCohorts(cohorts)
      state.ready = true
      document.body.dataset.state = 'ready'
    } catch (error) {
      $('status').textContent = String(error.message || error)
      // A missing or wrong read token: ask for it (a wrong one is dropped, so the form starts empty).
      if (error.status === 401) {
        sessionStorage.removeItem(TOKEN_KEY)
        $('token-form').hidden = false
        document.body.dataset.state = 'token'
      } else {
        document.body.dataset.state = 'error'
      }
    }
  }

  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault()
    sessionStorage.setItem(TOKEN_KEY, $('token').value)
    $('token-form').hidden = true
    void show({ from: $('from').value, to: $('to').value })
  })
  $('range').addEventListener('submit', (event) => {
    event.preventDefault()
    const range = { from: $('from').value, to: $('to').value }
    history.replaceState(null, '', `?from=${range.from}&to=${range.to}`)
    void show(range)
  })
  window.addEventListener('resize', () => {
    if (state.chart) state.chart.setSize({ width: $('dau-chart').clientWidth, height: 300 })
    if (state.activeChart) state.activeChart.setSize({ width: $('active-chart').clientWidth, height: 300 })
  })
  void show(initialRange())
})()
