/**
 * Reads a Dockerfile and its .dockerignore as Docker does, closely enough to replay a build without an engine
 * (infra/scripts/lib/dockerfile-replay.ts). Only what this repository's Dockerfile uses: FROM ... AS, ARG, ENV,
 * WORKDIR, COPY [--from], RUN [--mount], USER, CMD; anything else is an error, so the replay never skips a step
 * silently.
 *   https://docs.docker.com/reference/dockerfile/
 *   https://docs.docker.com/build/concepts/context/#dockerignore-files
 */

export type Instruction =
  | { kind: 'ENV'; vars: [string, string][] }
  | { kind: 'WORKDIR'; path: string }
  | { kind: 'COPY'; from?: string; sources: string[]; dest: string }
  | { kind: 'RUN'; mounts: Record<string, string>[]; command: string }
  | { kind: 'USER'; user: string }
  | { kind: 'CMD'; argv: string[] }

export interface Stage {
  name: string
  /** An image (`node:24-bookworm-slim`) or the name of an earlier stage. */
  from: string
  instructions: Instruction[]
}

/** Logical lines: comments dropped, `\` continuations joined (comment lines inside a continuation too). */
function logicalLines(text: string): string[] {
  const lines: string[] = []
  let current = ''
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd()
    if (/^\s*#/.test(line)) continue
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `
      continue
    }
    current += line
    if (current.trim()) lines.push(current.trim())
    current = ''
  }
  if (current.trim()) lines.push(current.trim())
  return lines
}

/** `$NAME` and `${NAME}` from `vars`, as Docker substitutes them in FROM, ENV, WORKDIR and COPY. */
export function substitute(text: string, vars: Record<string, string | undefined>): string {
  return text.replace(/\$(?:\{(\w+)\}|(\w+))/g, (_, braced: string, bare: string) => vars[braced ?? bare] ?? '')
}

/** Leading `--name=value` flags of an instruction, and the rest. */
function flags(rest: string): { flags: [string, string][]; rest: string } {
  const found: [string, string][] = []
  let text = rest
  for (let m = /^--([\w-]+)=(\S+)\s+/.exec(text); m; m = /^--([\w-]+)=(\S+)\s+/.exec(text)) {
    found.push([m[1] as string, m[2] as string])
    text = text.slice(m[0].length)
  }
  return { flags: found, rest: text }
}

/** ENV a=b c="d e" (and the old form `ENV a b`). */
function envPairs(rest: string): [string, string][] {
  if (!rest.includes('=')) {
    const [key, ...value] = rest.split(/\s+/)
    return [[key as string, value.join(' ')]]
  }
  const pairs: [string, string][] = []
  for (const m of rest.matchAll(/(\w+)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    const value = m[2] as string
    pairs.push([m[1] as string, value.startsWith('"') ? (JSON.parse(value) as string) : value])
  }
  return pairs
}

export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = []
  const globalArgs: Record<string, string> = {}
  for (const line of logicalLines(text)) {
    const m = /^(\w+)\s+(.*)$/s.exec(line)
    if (!m) throw new Error(`cannot read the Dockerfile line: ${line}`)
    const keyword = (m[1] as string).toUpperCase()
    const rest = m[2] as string
    const stage = stages.at(-1)
    if (keyword === 'ARG') {
      const [name, value = ''] = rest.split('=', 2) as [string, string?]
      if (!stage) globalArgs[name] = value
      continue
    }
    if (keyword === 'FROM') {
      const from = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest)
      if (!from) throw new Error(`cannot read FROM ${rest}`)
      stages.push({
        name: from[2] ?? String(stages.length),
        from: substitute(from[1] as string, globalArgs),
        instructions: [],
      })
      continue
    }
    if (!stage) throw new Error(`${keyword} before the first FROM`)
    switch (keyword) {
      case 'ENV':
        stage.instructions.push({ kind: 'ENV', vars: envPairs(rest) })
        break
      case 'WORKDIR':
        stage.instructions.push({ kind: 'WORKDIR', path: rest })
        break
      case 'USER':
        stage.instructions.push({ kind: 'USER', user: rest })
        break
      case 'CMD':
        if (!rest.startsWith('[')) throw new Error(`CMD in shell form is not supported: ${rest}`)
        stage.instructions.push({ kind: 'CMD', argv: JSON.parse(rest) as string[] })
        break
      case 'COPY': {
        const parsed = flags(rest)
        const unknown = parsed.flags.filter(([name]) => name !== 'from')
        if (unknown.length > 0) throw new Error(`COPY flags not supported: ${unknown.map(([n]) => n).join(', ')}`)
        const paths = parsed.rest.split(/\s+/)
        if (paths.length < 2 || paths.some((p) => /[*?[]/.test(p))) throw new Error(`COPY not supported: ${rest}`)
        const from = parsed.flags.find(([name]) => name === 'from')?.[1]
        stage.instructions.push({
          kind: 'COPY',
          ...(from ? { from } : {}),
          sources: paths.slice(0, -1),
          dest: paths.at(-1) as string,
        })
        break
      }
      case 'RUN': {
        const parsed = flags(rest)
        const mounts = parsed.flags
          .filter(([name]) => name === 'mount')
          .map(([, value]) => Object.fromEntries(value.split(',').map((kv) => kv.split('=', 2) as [string, string])))
        if (parsed.flags.some(([name]) => name !== 'mount')) throw new Error(`RUN flags not supported: ${rest}`)
        stage.instructions.push({ kind: 'RUN', mounts, command: parsed.rest })
        break
      }
      default:
        throw new Error(`Dockerfile instruction not supported by the replay: ${keyword}`)
    }
  }
  return stages
}

/** Stages in the order of `FROM`, each with the chain of stages it starts from (`FROM base AS build`). */
export function stageChain(stages: Stage[], name: string): Stage[] {
  const stage = stages.find((s) => s.name === name)
  if (!stage) return []
  return [...stageChain(stages, stage.from), stage]
}

/** What the image runs: the last CMD of the final stage or of a stage it starts from. */
export function imageCmd(stages: Stage[]): string[] | undefined {
  const final = stages.at(-1)
  if (!final) return undefined
  const cmds = stageChain(stages, final.name).flatMap((s) => s.instructions.filter((i) => i.kind === 'CMD'))
  return cmds.at(-1)?.argv
}

interface IgnoreRule {
  exclude: boolean
  pattern: RegExp
}

/** Go's filepath.Match with Docker's `**`, anchored at the context's root (`dist` is only the top-level dist). */
function globToRegExp(glob: string): RegExp {
  let source = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string
    if (c === '*' && glob[i + 1] === '*') {
      // `**/` matches no directory as well as several
      source += glob[i + 2] === '/' ? '(?:.*/)?' : '.*'
      i += glob[i + 2] === '/' ? 2 : 1
    } else if (c === '*') source += '[^/]*'
    else if (c === '?') source += '[^/]'
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${source}$`)
}

export function parseDockerignore(text: string): IgnoreRule[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const exclude = !line.startsWith('!')
      const pattern = (exclude ? line : line.slice(1)).replace(/^\/+/, '').replace(/\/+$/, '')
      return { exclude, pattern: globToRegExp(pattern) }
    })
}

/**
 * Whether a context path (relative, `/`-separated) stays out of the build context: the last rule that matches it,
 * or one of its parent folders, decides.
 */
export function isIgnored(rules: IgnoreRule[], path: string): boolean {
  const parts = path.split('/')
  const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'))
  let ignored = false
  for (const rule of rules) {
    if (candidates.some((c) => rule.pattern.test(c))) ignored = rule.exclude
  }
  return ignored
}

/** True when no `!` rule could bring back something inside an ignored folder (so a walk may skip the folder). */
export function hasExceptions(rules: IgnoreRule[]): boolean {
  return rules.some((rule) => !rule.exclude)
}
