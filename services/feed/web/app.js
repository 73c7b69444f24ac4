// The web page of the feed (docs/feed.md#web-client): log in, write a post, follow and unfollow, like, and scroll
// the personal and the hot feed page by page with their cursors. Nodes are built with textContent only: the page's
// Content-Security-Policy requires Trusted Types, so no string ever becomes HTML.
import * as api from './api.js'

const PAGE_SIZE = 20
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id))

const state = {
  /** @type {{ id: string, handle: string, name: string } | null} */
  me: null,
  /** What this page knows of whom the user follows: set by a follow or unfollow here, or seen in the own feed. */
  following: new Map(),
  /** Posts the user likes, as far as this page knows (the hot feed, the same for everyone, does not say). */
  liked: new Map(),
  lists: {
    feed: { path: '/v1/feed', cursor: null, auth: true },
    hot: { path: '/v1/feed/hot', cursor: null, auth: true },
  },
  /** The key of the post being written: a retry of the same text after a failure reuses it (no double post). */
  draft: { text: '', key: '' },
}

// -- messages (live regions)

function showError(error) {
  const box = $('error')
  box.textContent = error instanceof Error ? error.message : String(error)
  box.hidden = false
}

function say(message) {
  $('error').hidden = true
  $('status').textContent = message
}

/** Runs an action of a button or form: one at a time per control, its error shown. */
async function act(control, action) {
  if (control) control.disabled = true
  $('error').hidden = true
  try {
    await action()
  } catch (error) {
    showError(error)
  } finally {
    if (control) control.disabled = false
  }
}

// -- posts

const postOf = (item) => item.post ?? item
const authorOf = (item) => item.author ?? postOf(item).author

function element(tag, props = {}, children = []) {
  const node = document.createElement(tag)
  for (const [name, value] of Object.entries(props)) {
    if (name === 'text') node.textContent = value
    else if (name === 'dataset') Object.assign(node.dataset, value)
    else node.setAttribute(name, value)
  }
  node.append(...children)
  return node
}

const likesText = (count) => (count === 1 ? '1 like' : `${count} likes`)

function followLabel(author) {
  return `${state.following.get(author.id) ? 'Unfollow' : 'Follow'} @${author.handle}`
}

function renderPost(item) {
  const post = postOf(item)
  const author = authorOf(item)
  const likeCount = item.like_count ?? post.like_count ?? 0
  const liked = item.liked_by_me ?? post.liked_by_me ?? state.liked.get(post.id) ?? false
  state.liked.set(post.id, liked)
  const when = new Date(post.created_at)

  const like = element('button', { type: 'button', class: 'like', 'aria-pressed': String(liked), text: 'Like' })
  like.addEventListener('click', () => act(like, () => toggleLike(post.id, like.getAttribute('aria-pressed'))))
  const footer = element('footer', {}, [like, element('span', { class: 'likes', text: likesText(likeCount) })])
  if (!state.me || author.id !== state.me.id) {
    const follow = element('button', { type: 'button', class: 'follow', text: followLabel(author) })
    follow.dataset.authorId = author.id
    follow.dataset.handle = author.handle
    follow.addEventListener('click', () => act(follow, () => setFollowing(author.id, !state.following.get(author.id))))
    footer.append(follow)
  }
  // An avatar is decoration beside the name (alt=""); only https, as the Content-Security-Policy allows.
  const avatar = author.avatar_url?.startsWith('https:')
    ? [element('img', { class: 'avatar', src: author.avatar_url, alt: '', width: '28', height: '28' })]
    : []
  const header = element('header', {}, [
    ...avatar,
    element('strong', { text: author.name }),
    element('span', { class: 'handle', text: `@${author.handle}` }),
    element('time', { datetime: post.created_at, text: when.toLocaleString() }),
  ])
  const article = element('article', { 'aria-label': `Post by @${author.handle}` }, [
    header,
    element('p', { class: 'text', text: post.text }),
    footer,
  ])
  return element('li', { dataset: { postId: post.id } }, [article])
}

/** A like's answer updates every copy of the post on the page (it may be in both lists). */
function showLike({ post_id, liked, like_count }) {
  state.liked.set(post_id, liked)
  for (const li of document.querySelectorAll(`li[data-post-id="${CSS.escape(post_id)}"]`)) {
    li.querySelector('.like')?.setAttribute('aria-pressed', String(liked))
    const count = li.querySelector('.likes')
    if (count) count.textContent = likesText(like_count)
  }
}

async function toggleLike(postId, pressed) {
  const method = pressed === 'true' ? 'DELETE' : 'PUT'
  const result = await api.request(method, `/v1/posts/${encodeURIComponent(postId)}/like`, {
    idempotencyKey: api.newIdempotencyKey(),
  })
  showLike(result)
  say(result.liked ? 'Liked.' : 'Like removed.')
}

// -- lists with cursors

/** Loads a page of a list; `reset` starts again from the top. */
async function loadList(name, reset = false) {
  const list = state.lists[name]
  if (reset) list.cursor = null
  const query = new URLSearchParams({ limit: String(PAGE_SIZE) })
  if (list.cursor) query.set('cursor', list.cursor)
  let page
  try {
    page = await api.request('GET', `${list.path}?${query}`, { auth: list.auth })
  } catch (error) {
    // The hot feed's ranking snapshot behind the cursor expired (410): the ranking starts again from the top.
    if (error instanceof api.ApiError && error.status === 410 && list.cursor) {
      say(`${error.message} Showing the current ranking from the top.`)
      return loadList(name, true)
    }
    throw error
  }
  const ol = $(name)
  if (reset) ol.replaceChildren()
  const shown = new Set([...ol.children].map((li) => /** @type {HTMLElement} */ (li).dataset.postId))
  for (const item of page.items) {
    const author = authorOf(item)
    if (name === 'feed' && state.me && author.id !== state.me.id && !state.following.has(author.id)) {
      state.following.set(author.id, true)
    }
    if (!shown.has(postOf(item).id)) ol.append(renderPost(item))
  }
  list.cursor = page.next_cursor ?? null
  $(`${name}-more`).hidden = !list.cursor
  $(`${name}-empty`).hidden = ol.children.length > 0
  refreshFollowButtons()
}

// -- follows

function refreshFollowButtons() {
  for (const button of document.querySelectorAll('button.follow')) {
    const { authorId, handle } = /** @type {HTMLElement} */ (button).dataset
    button.textContent = followLabel({ id: authorId, handle })
  }
}

async function setFollowing(userId, follow) {
  const result = await api.request(follow ? 'PUT' : 'DELETE', `/v1/users/${encodeURIComponent(userId)}/follow`, {
    idempotencyKey: api.newIdempotencyKey(),
  })
  state.following.set(result.user_id, result.following)
  refreshFollowButtons()
  if (!result.following) {
    // Their posts leave the feed at once here; the service removes them from the stored feed in a moment.
    for (const li of [...$('feed').children]) {
      if (li.querySelector(`button.follow[data-author-id="${CSS.escape(result.user_id)}"]`)) li.remove()
    }
    $('feed-empty').hidden = $('feed').children.length > 0
  }
  if (follow) /** @type {HTMLInputElement} */ ($('follow-id')).value = ''
  const who = await api.request('GET', `/v1/users/${encodeURIComponent(result.user_id)}`)
  say(`${result.following ? 'You follow' : 'You no longer follow'} ${who.name} (@${who.handle}).`)
  await loadMe()
}

// -- the signed-in page

async function loadMe() {
  const me = await api.request('GET', '/v1/me')
  state.me = me
  $('me-name').textContent = me.name
  $('me-handle').textContent = `@${me.handle}`
  $('me-id').textContent = me.id
  $('me-counts').textContent = `${me.post_count} posts, ${me.follower_count} followers, following ${me.following_count}`
}

function wireApp() {
  const text = /** @type {HTMLTextAreaElement} */ ($('post-text'))
  text.addEventListener('input', () => {
    $('post-count').textContent = `${[...text.value].length} / 500`
  })
  $('compose').addEventListener('submit', (event) => {
    event.preventDefault()
    const button = /** @type {HTMLFormElement} */ (event.target).querySelector('button')
    act(button, async () => {
      if (state.draft.text !== text.value || !state.draft.key)
        state.draft = { text: text.value, key: api.newIdempotencyKey() }
      const post = await api.request('POST', '/v1/posts', {
        body: { text: text.value },
        idempotencyKey: state.draft.key,
      })
      state.draft = { text: '', key: '' }
      text.value = ''
      $('post-count').textContent = '0 / 500'
      // The author's own feed holds the post too (the worker puts it there); shown here at once.
      $('feed').prepend(renderPost(post))
      $('feed-empty').hidden = true
      say(`Posted: “${post.text.slice(0, 60)}”. Your followers see it in a moment.`)
      await loadMe()
    })
  })
  $('follow-form').addEventListener('submit', (event) => {
    event.preventDefault()
    const submitter = /** @type {SubmitEvent} */ (event).submitter
    const input = /** @type {HTMLInputElement} */ ($('follow-id'))
    act(submitter, () => setFollowing(input.value.trim(), submitter?.getAttribute('value') !== 'unfollow'))
  })
  for (const name of ['feed', 'hot']) {
    const more = $(`${name}-more`)
    more.addEventListener('click', () => act(more, () => loadList(name)))
    const again = $(`${name}-refresh`)
    again.addEventListener('click', () => act(again, () => loadList(name, true)))
  }
  $('logout').addEventListener('click', () =>
    act($('logout'), async () => {
      await api.logout()
      await showLogin('You are logged out.')
    }),
  )
}

async function showApp(message) {
  $('login').hidden = true
  await loadMe()
  $('account').hidden = false
  $('app').hidden = false
  if (message) say(message)
  // Each list on its own: one that fails shows its error, the other still loads.
  await Promise.all(['feed', 'hot'].map((name) => loadList(name, true).catch(showError)))
}

async function showLogin(message) {
  state.me = null
  state.following.clear()
  state.liked.clear()
  $('account').hidden = true
  $('app').hidden = true
  $('feed').replaceChildren()
  $('hot').replaceChildren()
  const config = await api.request('GET', '/web/config.json', { auth: false })
  $('providers').replaceChildren(
    ...config.providers.map((provider) =>
      element('li', {}, [
        element('a', { class: 'button', href: provider.login_url, text: `Log in with ${provider.label}` }),
      ]),
    ),
  )
  $('login').hidden = false
  if (message) say(message)
}

async function start() {
  wireApp()
  api.onSessionEnded((message) => {
    showLogin().then(() => showError(message), showError)
  })
  const fresh = api.takeLoginFromFragment()
  if (!api.currentSession()) return showLogin()
  await showApp(fresh ? 'You are logged in.' : '')
}

start().catch(showError)
