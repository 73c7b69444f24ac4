/**
 * Replays a Dockerfile's build without a Docker engine: each stage gets a folder standing for its filesystem, COPY
 * copies the build context (less .dockerignore) or another stage's files into it, RUN runs on this machine with the
 * stage's ENV and WORKDIR. What cannot run here is left to the caller's `skip` (e.g. installing pnpm through
 * corepack: the replay uses this machine's pnpm); a cache mount's target (`--mount=type=cache,target=/pnpm/store`)
 * becomes a folder of this machine (the pnpm store the dependencies were installed from).
 * It catches what a build would stumble on (a file a step needs that is not copied yet, an ignored file, a failing
 * install or build) and leaves a layout to start the image's command in. Base images are not pulled: RUN uses this
 * machine's tools (node, sh, tar), so their versions may differ from the image's.
 */
import { spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { dirname, join, posix } from 'node:path'
import {
  hasExceptions,
  type Instruction,
  isIgnored,
  parseDockerfile,
  parseDockerignore,
  type Stage,
  substitute,
} from './dockerfile.js'

export interface ReplayOptions {
  /** The build context (the repository's root). */
  context: string
  /** Where the stages' folders go (emptied first). */
  scratch: string
  /** Cache mount target (in the image) → folder on this machine. */
  caches: Record<string, string>
  /** Folder put first on RUN's PATH (e.g. one holding a `pnpm` of the right version). */
  binDir?: string
  /** RUN commands not to run here; they are reported in `skipped`. */
  skip?: (command: string) => boolean
  /** Seconds one RUN may take. */
  runTimeoutS?: number
  log?: (line: string) => void
}

export interface StageResult {
  name: string
  /** This machine's folder for the stage's `/`. */
  root: string
  env: Record<string, string>
  workdir: string
  cmd?: string[]
}

export interface ReplayResult {
  stages: StageResult[]
  /** The image: the last stage. */
  final: StageResult
  skipped: string[]
  /** Maps a path inside the final image to this machine. */
  inImage(path: string): string
}

/** Host variables RUN sees besides the stage's ENV: those that find tools, caches, proxies and the registry. */
const HOST_ENV = /^(PATH|HOME|TMPDIR|LANG|LC_\w+|XDG_\w+|https?_proxy|no_proxy|HTTPS?_PROXY|NO_PROXY)$/

function hostEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter((e): e is [string, string] => HOST_ENV.test(e[0]) && e[1] !== undefined),
  )
}

/** Files of the context under `rel` that .dockerignore lets through, as context-relative paths. */
function contextFiles(context: string, rel: string, ignore: ReturnType<typeof parseDockerignore>): string[] {
  const files: string[] = []
  const prune = !hasExceptions(ignore)
  const walk = (path: string) => {
    const ignored = path !== '' && isIgnored(ignore, path)
    const full = join(context, path)
    const stat = statSync(full)
    if (stat.isDirectory()) {
      if (ignored && prune) return
      for (const entry of readdirSync(full)) walk(path === '' ? entry : `${path}/${entry}`)
    } else if (!ignored) files.push(path)
  }
  walk(rel)
  return files
}

export function replayDockerfile(options: ReplayOptions): ReplayResult {
  const { context, scratch } = options
  const stages = parseDockerfile(readFileSync(join(context, 'Dockerfile'), 'utf8'))
  const ignorePath = join(context, '.dockerignore')
  const ignore = parseDockerignore(existsSync(ignorePath) ? readFileSync(ignorePath, 'utf8') : '')
  const log = options.log ?? (() => {})
  rmSync(scratch, { recursive: true, force: true })
  mkdirSync(scratch, { recursive: true })
  const done = new Map<string, StageResult>()
  const skipped: string[] = []

  for (const stage of stages) {
    const parent = done.get(stage.from)
    const result: StageResult = {
      name: stage.name,
      root: join(scratch, stage.name),
      env: { ...parent?.env },
      workdir: parent?.workdir ?? '/',
      ...(parent?.cmd ? { cmd: parent.cmd } : {}),
    }
    if (parent) cpSync(parent.root, result.root, { recursive: true, verbatimSymlinks: true })
    else mkdirSync(result.root, { recursive: true })
    log(`FROM ${stage.from} AS ${stage.name}`)
    for (const instruction of stage.instructions) {
      step(stage, instruction, result)
    }
    done.set(stage.name, result)
  }

  function inStage(result: StageResult, path: string): string {
    return join(result.root, posix.resolve(result.workdir, path))
  }

  function step(stage: Stage, instruction: Instruction, result: StageResult): void {
    switch (instruction.kind) {
      case 'ENV':
        for (const [key, value] of instruction.vars)
          result.env[key] = substitute(value, { ...hostEnv(), ...result.env })
        return
      case 'WORKDIR':
        result.workdir = posix.resolve(result.workdir, substitute(instruction.path, result.env))
        mkdirSync(inStage(result, '.'), { recursive: true })
        return
      case 'USER':
        return
      case 'CMD':
        result.cmd = instruction.argv
        return
      case 'COPY':
        log(
          `COPY ${instruction.from ? `--from=${instruction.from} ` : ''}${instruction.sources.join(' ')} ${instruction.dest}`,
        )
        copy(stage, instruction, result)
        return
      case 'RUN':
        run(instruction, result)
        return
    }
  }

  function copy(stage: Stage, instruction: Extract<Instruction, { kind: 'COPY' }>, result: StageResult): void {
    const intoDir = instruction.dest.endsWith('/') || instruction.dest === '.' || instruction.sources.length > 1
    const dest = inStage(result, instruction.dest)
    for (const source of instruction.sources) {
      if (instruction.from) {
        const from = done.get(instruction.from)
        if (!from) throw new Error(`${stage.name}: COPY --from=${instruction.from}: no such stage before this one`)
        const path = join(from.root, posix.resolve('/', source))
        if (!existsSync(path)) throw new Error(`${stage.name}: COPY --from=${instruction.from} ${source}: not found`)
        const target = statSync(path).isDirectory() || !intoDir ? dest : join(dest, posix.basename(source))
        mkdirSync(dirname(target), { recursive: true })
        cpSync(path, target, { recursive: true, verbatimSymlinks: true })
        continue
      }
      const rel = posix
        .normalize(source)
        .replace(/^(\.\/)+|^\.$/, '')
        .replace(/\/+$/, '')
      if (!existsSync(join(context, rel)) || (rel !== '' && isIgnored(ignore, rel))) {
        // what `docker build` says when a source is missing or excluded by .dockerignore
        throw new Error(`${stage.name}: COPY ${source}: "/${rel}": not found (missing, or excluded by .dockerignore)`)
      }
      const isDir = statSync(join(context, rel)).isDirectory()
      for (const file of contextFiles(context, rel, ignore)) {
        const inside = isDir ? posix.relative(rel, file) : posix.basename(file)
        const target = isDir || intoDir ? join(dest, inside) : dest
        mkdirSync(dirname(target), { recursive: true })
        cpSync(join(context, file), target)
      }
    }
  }

  function run(instruction: Extract<Instruction, { kind: 'RUN' }>, result: StageResult): void {
    if (options.skip?.(instruction.command)) {
      log(`RUN (skipped) ${instruction.command}`)
      skipped.push(instruction.command)
      return
    }
    let command = instruction.command
    for (const mount of instruction.mounts) {
      const target = mount.target ?? mount.dst ?? mount.destination
      if (mount.type !== 'cache' || !target) throw new Error(`RUN --mount=type=${mount.type} is not supported here`)
      const folder = options.caches[target]
      if (!folder) throw new Error(`RUN: no folder of this machine given for the cache mount ${target}`)
      command = command.replaceAll(target, folder)
    }
    log(`RUN ${command}`)
    const env = { ...hostEnv(), ...result.env }
    if (options.binDir) env.PATH = `${options.binDir}:${env.PATH ?? ''}`
    const started = Date.now()
    const outcome = spawnSync('sh', ['-c', command], {
      cwd: inStage(result, '.'),
      env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: (options.runTimeoutS ?? 120) * 1000,
      maxBuffer: 64 * 1024 * 1024,
    })
    const output = `${outcome.stdout ?? ''}${outcome.stderr ?? ''}`
    if (outcome.status !== 0) {
      const why = outcome.error ? outcome.error.message : `exit ${outcome.status ?? outcome.signal}`
      throw new Error(
        `RUN ${instruction.command}\nfailed (${why}) after ${Date.now() - started} ms:\n${output.slice(-4000)}`,
      )
    }
    log(`    ok in ${Date.now() - started} ms`)
  }

  const all = stages.map((s) => done.get(s.name) as StageResult)
  const final = all.at(-1) as StageResult
  return { stages: all, final, skipped, inImage: (path) => inStage(final, path) }
}
