/**
 * Where the machine's CPU went during a benchmark phase, read from /proc (Linux): the whole machine's busy time
 * (/proc/stat: user, nice, system, irq, softirq, steal; so kernel work such as loopback TCP and disk writeback is
 * counted) and each process group's own time (/proc/<pid>/stat utime + stime).
 *
 * Throughput figures on a shared 2-core machine depend on everything else running on it; CPU per event does not,
 * and it says what a target needs: at C cores, N events/s needs at most C / N seconds of CPU per event.
 */
import { readdirSync, readFileSync } from 'node:fs'
import os from 'node:os'

const TICK_SECONDS = 0.01 // USER_HZ is 100 on Linux

export interface CpuGroup {
  name: string
  /** Matched against "<comm> <cmdline>". */
  pattern: RegExp
}

export const DEFAULT_GROUPS: CpuGroup[] = [
  { name: 'postgres', pattern: /^postgres /m },
  { name: 'rabbitmq', pattern: /^(beam\.smp|erl_child_setup|inet_gethost|epmd) / },
  { name: 'clickhouse', pattern: /clickhouse/i },
  { name: 'redis', pattern: /^redis-server / },
]

interface Snapshot {
  machineBusy: number
  groups: Map<string, number>
}

function machineBusyTicks(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? ''
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number)
  return [user, nice, system, irq, softirq, steal].reduce<number>((a, b) => a + (b ?? 0), 0)
}

function processTicks(groups: CpuGroup[], pids: Map<string, Set<number>>): Map<string, number> {
  const totals = new Map<string, number>()
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry)
    if (!Number.isInteger(pid)) continue
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      // utime + stime, and for this process also cutime + cstime: the children it waited for (wrk, pgbench),
      // which would otherwise be gone from /proc by the end of the phase.
      const self = pid === process.pid
      const ticks = Number(fields[11]) + Number(fields[12]) + (self ? Number(fields[13]) + Number(fields[14]) : 0)
      let name = [...pids].find(([, set]) => set.has(pid))?.[0]
      if (!name) {
        const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ')
        name = groups.find((g) => g.pattern.test(`${comm} ${cmdline}`))?.name
      }
      if (name) totals.set(name, (totals.get(name) ?? 0) + ticks)
    } catch {
      // the process ended between readdir and read
    }
  }
  return totals
}

export interface CpuReport {
  /** Machine-wide busy CPU seconds, and per group (the rest: other processes and kernel threads). */
  machine: number
  groups: Record<string, number>
}

/**
 * Starts measuring. `pids` names processes of the benchmark itself (e.g. { 'ingest': [child.pid] }); this process
 * is always counted as 'benchmark'.
 */
export function measureCpu(pids: Record<string, (number | undefined)[]> = {}, groups = DEFAULT_GROUPS) {
  const own = new Map<string, Set<number>>([['benchmark', new Set([process.pid])]])
  for (const [name, list] of Object.entries(pids)) own.set(name, new Set(list.filter((p) => p !== undefined)))
  const take = (): Snapshot => ({
    machineBusy: machineBusyTicks(),
    groups: processTicks(groups, own),
  })
  const start = take()
  return {
    stop(): CpuReport {
      const end = take()
      const out: Record<string, number> = {}
      for (const [name, ticks] of end.groups) {
        out[name] = Math.max(0, ticks - (start.groups.get(name) ?? 0)) * TICK_SECONDS
      }
      return {
        machine: (end.machineBusy - start.machineBusy) * TICK_SECONDS,
        groups: out,
      }
    },
  }
}

/**
 * "412 µs (benchmark 120, ingest 180, postgres 70, ..., other+kernel 12)" per unit of work (event, request, insert).
 * 'benchmark' includes the children the benchmark ran and waited for (the load generator, pgbench); a process
 * that exited otherwise during the phase shows under other+kernel.
 */
export function perUnit(report: CpuReport, units: number): string {
  const us = (s: number) => Math.round((s / Math.max(units, 1)) * 1e6)
  const named = Object.entries(report.groups)
    .filter(([, s]) => us(s) >= 1)
    .sort((a, b) => b[1] - a[1])
  const accounted = named.reduce((sum, [, s]) => sum + s, 0)
  const parts = [
    ...named.map(([n, s]) => `${n} ${us(s)}`),
    `other+kernel ${us(Math.max(0, report.machine - accounted))}`,
  ]
  return `${us(report.machine)} µs (${parts.join(', ')})`
}

/** Events/s the machine could sustain at this CPU cost per event if nothing else ran. */
export function cpuCeiling(report: CpuReport, units: number): number {
  return (os.cpus().length * units) / Math.max(report.machine, 1e-9)
}
