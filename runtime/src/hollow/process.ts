/**
 * A simulated process: runs a container's argv (or an exec's) by interpreting the shell subset of
 * hollow/shell.ts with a handful of busybox-like commands. Behaviour comes from the command alone
 * (no annotations): `sleep N` exits 0 after N simulated seconds, `sh -c "exit 3"` exits 3 at once,
 * `echo` prints, `httpd -f -p 8080` serves files until stopped, and anything the interpreter does
 * not model runs until stopped.
 *
 * The interpreter is written in continuation style, not with async/await: a `sleep` sets a timer
 * whose callback continues the script synchronously. With simulated timers that keeps a whole
 * script inside one `advance()` (the next sleep's timer is set while the clock still reads the
 * due time of the previous one), so simulated time never drifts.
 */
import { assert } from '../../../lib/assert.ts'
import type { Timer, Timers } from '../../../lib/timers.ts'
import { VirtualFiles } from './files.ts'
import { parseShell, scriptFromArgv, type AndOrList, type Redirect, type SimpleCommand, type Statement, type Word } from './shell.ts'

/** What a listening process does with a connection (see hollow/port-responders.ts). */
export type ListenService = { readonly kind: 'http'; readonly root: string } | { readonly kind: 'echo' }

export interface ProcessContext {
  readonly timers: Timers
  readonly env: Readonly<Record<string, string>>
  readonly files: VirtualFiles
  readonly hostname: string
  readonly workingDir: string
  readonly stdout: (data: Buffer) => void
  readonly stderr: (data: Buffer) => void
  /** The process listens on a TCP port from now until it exits. */
  readonly listen: (port: number, service: ListenService) => void
}

/** What one command does: finish now, wait for something, exit the process, or run for ever. */
type Outcome =
  | { readonly kind: 'status'; readonly status: number }
  | { readonly kind: 'exit'; readonly code: number }
  | { readonly kind: 'wait'; readonly start: (resume: (status: number) => void) => () => void }
  | { readonly kind: 'forever'; readonly busy: boolean }

const SHELLS = new Set(['sh', 'ash', 'bash'])
/** Built-ins that succeed and change nothing the simulation models. */
const NO_OP_COMMANDS = new Set(['cd', 'set', 'unset', 'umask', 'ulimit', 'trap', 'sync', 'kill', 'wait', 'chmod', 'chown', 'ln'])
const STDIN_BUFFER_BYTES_MAX = 1024 * 1024
/** `sleep` accepts these suffixes, like busybox's. */
const SLEEP_UNIT_MS: Readonly<Record<string, number>> = { '': 1000, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

interface Output {
  write(text: string): void
}

export class HollowProcess {
  private readonly context: ProcessContext
  private readonly argv: readonly string[]
  private readonly stdinOpen: boolean
  private readonly variables: Map<string, string>
  private positional: readonly string[] = []
  private lists: AndOrList[] = []
  private listIndex = 0
  private itemIndex = 0
  private lastStatus = 0
  /** Reads commands from stdin (`sh` with an attached stdin). */
  private interactive = false
  private pendingCommandText = ''
  /** A command is in progress (sleeping, reading stdin, serving): the script does not advance. */
  private blocked = false
  private cancelWait: (() => void) | undefined
  private stdinBuffer: Buffer[] = []
  private stdinBufferedBytes = 0
  private stdinEnded: boolean
  private stdinReader: ((chunk: Buffer | undefined) => void) | undefined
  private exitCodeValue: number | undefined
  private readonly exitListeners: ((code: number) => void)[] = []
  /** The process burns a core (a loop without sleep): CPU statistics grow at one core. */
  busy = false

  constructor(argv: readonly string[], context: ProcessContext, options: { readonly stdinOpen: boolean }) {
    this.argv = argv
    this.context = context
    this.stdinOpen = options.stdinOpen
    this.stdinEnded = !options.stdinOpen
    this.variables = new Map(Object.entries(context.env))
  }

  get exited(): boolean {
    return this.exitCodeValue !== undefined
  }

  get exitCode(): number | undefined {
    return this.exitCodeValue
  }

  onExit(listener: (code: number) => void): void {
    if (this.exitCodeValue !== undefined) listener(this.exitCodeValue)
    else this.exitListeners.push(listener)
  }

  /** Starts interpreting; output and even the exit may happen before this returns. */
  start(): void {
    const argv = this.argv[0] === 'busybox' || this.argv[0] === '/bin/busybox' ? this.argv.slice(1) : this.argv
    const program = basename(argv[0] ?? '')
    if (argv.length === 0) {
      // An image without entrypoint or cmd: an application the simulation knows nothing about.
      return this.perform({ kind: 'forever', busy: false })
    }
    if (!SHELLS.has(program)) {
      this.lists = [...scriptFromArgv(argv)]
      this.run()
      return
    }
    if (argv[1] === '-c') {
      this.positional = argv.slice(4)
      this.variables.set('0', argv[3] ?? program)
      this.lists = [...parseShell(argv[2] ?? '')]
    } else if (argv[1] !== undefined) {
      const path = VirtualFiles.resolve(argv[1], this.context.workingDir)
      const text = this.context.files.read(path)
      if (text === undefined) {
        this.context.stderr(Buffer.from(`${program}: can't open '${argv[1]}': No such file or directory\n`))
        this.exit(2)
        return
      }
      this.positional = argv.slice(2)
      this.lists = [...parseShell(text)]
    } else {
      // A shell without a script reads commands from stdin, and ends at once when there is none.
      this.interactive = this.stdinOpen
    }
    this.run()
  }

  /** Delivers stdin bytes (to a reading command, an interactive shell, or a bounded buffer). */
  writeStdin(chunk: Buffer): void {
    if (this.exited || this.stdinEnded) return
    if (this.stdinReader !== undefined) return this.stdinReader(chunk)
    if (this.interactive && !this.blocked) {
      this.appendCommands(chunk.toString('utf8'))
      return this.run()
    }
    if (this.stdinBufferedBytes + chunk.length > STDIN_BUFFER_BYTES_MAX) return
    this.stdinBuffer.push(chunk)
    this.stdinBufferedBytes += chunk.length
  }

  endStdin(): void {
    if (this.exited || this.stdinEnded) return
    this.stdinEnded = true
    if (this.stdinReader !== undefined) return this.stdinReader(undefined)
    if (this.interactive && !this.blocked) this.run()
  }

  /** Ends the process now with `code` (a signal's 128 + n), whatever it was doing. */
  kill(code: number): void {
    if (this.exited) return
    this.exit(code)
  }

  private exit(code: number): void {
    assert(this.exitCodeValue === undefined, 'a hollow process exits once')
    this.exitCodeValue = code & 0xff
    this.busy = false
    this.cancelWait?.()
    this.cancelWait = undefined
    this.stdinReader = undefined
    for (const listener of this.exitListeners.splice(0)) listener(this.exitCodeValue)
  }

  /** Queues the complete lines of `text` as commands (an interactive shell's input). */
  private appendCommands(text: string): void {
    this.pendingCommandText += text
    const newline = this.pendingCommandText.lastIndexOf('\n')
    if (newline < 0) return
    const complete = this.pendingCommandText.slice(0, newline + 1)
    this.pendingCommandText = this.pendingCommandText.slice(newline + 1)
    this.lists.push(...parseShell(complete))
  }

  /** Runs statements until one blocks or the script ends. */
  private run(): void {
    while (!this.exited && !this.blocked) {
      const list = this.lists[this.listIndex]
      if (list === undefined) {
        if (this.interactive && this.readBufferedCommands()) continue
        if (this.interactive && !this.stdinEnded) return
        return this.exit(this.lastStatus)
      }
      const item = list.items[this.itemIndex]
      if (item === undefined) {
        this.listIndex++
        this.itemIndex = 0
        continue
      }
      this.itemIndex++
      if (item.connector === 'and' && this.lastStatus !== 0) continue
      if (item.connector === 'or' && this.lastStatus === 0) continue
      this.perform(this.execute(item.statement))
    }
  }

  /** Queues commands that arrived while a command ran; true when there are new ones to run. */
  private readBufferedCommands(): boolean {
    const listsBefore = this.lists.length
    if (this.stdinBuffer.length > 0) {
      const text = Buffer.concat(this.stdinBuffer).toString('utf8')
      this.stdinBuffer = []
      this.stdinBufferedBytes = 0
      this.appendCommands(text)
    }
    // At the end of input, an unterminated last line still runs.
    if (this.stdinEnded && this.pendingCommandText !== '') this.appendCommands('\n')
    return this.lists.length > listsBefore
  }

  private perform(outcome: Outcome): void {
    switch (outcome.kind) {
      case 'status':
        this.lastStatus = outcome.status
        return
      case 'exit':
        return this.exit(outcome.code)
      case 'forever':
        this.blocked = true
        this.busy = outcome.busy
        return
      case 'wait':
        this.blocked = true
        this.cancelWait = outcome.start((status) => {
          if (this.exited) return
          this.cancelWait = undefined
          this.blocked = false
          this.lastStatus = status
          this.run()
        })
    }
  }

  private execute(statement: Statement): Outcome {
    if (statement.kind === 'opaque') return { kind: 'forever', busy: statement.busy }
    return this.executeSimple(statement)
  }

  private executeSimple(command: SimpleCommand): Outcome {
    for (const assignment of command.assignments) this.variables.set(assignment.name, this.expand(assignment.value))
    const argv = command.words.map((word) => this.expand(word))
    const io = this.redirections(command.redirects)
    if (io === undefined) return { kind: 'status', status: 1 }
    if (argv.length === 0) return { kind: 'status', status: 0 }
    if (basename(argv[0] as string) === 'exec') {
      // `exec cmd` replaces the shell: when cmd ends, so does the process.
      const replaced = this.runCommand(argv.slice(1), io)
      if (replaced.kind === 'status') return { kind: 'exit', code: replaced.status }
      if (replaced.kind !== 'wait') return replaced
      return { kind: 'wait', start: () => replaced.start((status) => this.exit(status)) }
    }
    return this.runCommand(argv, io)
  }

  private expand(word: Word): string {
    let text = ''
    for (const part of word) {
      if (part.kind === 'literal') text += part.text
      else {
        const value = this.parameter(part.name)
        text += value === '' && part.fallback !== undefined ? part.fallback : value
      }
    }
    return text
  }

  private parameter(name: string): string {
    if (name === '?') return String(this.lastStatus)
    if (name === '$') return '1'
    if (name === '#') return String(this.positional.length)
    if (name === '@' || name === '*') return this.positional.join(' ')
    if (/^[1-9]$/.test(name)) return this.positional[Number(name) - 1] ?? ''
    return this.variables.get(name) ?? ''
  }

  /** Output targets after redirections, or undefined (after printing why) when one fails. */
  private redirections(redirects: readonly Redirect[]): { stdout: Output; stderr: Output; stdin?: string } | undefined {
    const streams: { stdout: Output; stderr: Output; stdin?: string } = {
      stdout: { write: (text) => this.context.stdout(Buffer.from(text)) },
      stderr: { write: (text) => this.context.stderr(Buffer.from(text)) },
    }
    for (const redirect of redirects) {
      const target = this.expand(redirect.target)
      if (redirect.operator === '>&') {
        const source = target === '2' ? streams.stderr : target === '1' ? streams.stdout : undefined
        if (source === undefined) continue
        if (redirect.fd === 1) streams.stdout = source
        if (redirect.fd === 2) streams.stderr = source
        continue
      }
      const path = VirtualFiles.resolve(target, this.context.workingDir)
      if (redirect.operator === '<') {
        const content = this.context.files.read(path)
        if (content === undefined && path !== '/dev/null') {
          streams.stderr.write(`sh: can't open '${target}': No such file or directory\n`)
          return undefined
        }
        streams.stdin = content ?? ''
        continue
      }
      const output = this.fileOutput(path, redirect.operator === '>>', streams.stderr)
      if (output === undefined) return undefined
      if (redirect.fd === 1) streams.stdout = output
      if (redirect.fd === 2) streams.stderr = output
    }
    return streams
  }

  private fileOutput(path: string, append: boolean, errors: Output): Output | undefined {
    if (path === '/dev/null') return { write: () => undefined }
    if (path === '/dev/stdout') return { write: (text) => this.context.stdout(Buffer.from(text)) }
    if (path === '/dev/stderr') return { write: (text) => this.context.stderr(Buffer.from(text)) }
    if (!this.context.files.parentExists(path) || this.context.files.isDirectory(path)) {
      errors.write(`sh: can't create ${path}: ${this.context.files.isDirectory(path) ? 'Is a directory' : 'nonexistent directory'}\n`)
      return undefined
    }
    const files = this.context.files
    if (!append) files.write(path, '', false)
    return { write: (text) => files.write(path, text, true) }
  }

  private runCommand(argv: readonly string[], io: { stdout: Output; stderr: Output; stdin?: string }): Outcome {
    const program = basename(argv[0] as string)
    const args = argv.slice(1)
    switch (program) {
      case 'true':
      case ':':
        return { kind: 'status', status: 0 }
      case 'false':
        return { kind: 'status', status: 1 }
      case 'exit':
        return { kind: 'exit', code: args[0] === undefined ? this.lastStatus : Number.parseInt(args[0], 10) || 0 }
      case 'echo':
        return { kind: 'status', status: (io.stdout.write(echoText(args)), 0) }
      case 'printf':
        return { kind: 'status', status: (io.stdout.write(printfText(args)), 0) }
      case 'export':
        for (const arg of args) {
          const equals = arg.indexOf('=')
          if (equals > 0) this.variables.set(arg.slice(0, equals), arg.slice(equals + 1))
        }
        return { kind: 'status', status: 0 }
      case 'env':
      case 'printenv':
        return this.printEnvironment(args, io.stdout)
      case 'hostname':
        return { kind: 'status', status: (io.stdout.write(`${this.context.hostname}\n`), 0) }
      case 'pwd':
        return { kind: 'status', status: (io.stdout.write(`${this.context.workingDir}\n`), 0) }
      case 'sleep':
        return this.sleep(args, io.stderr)
      case 'cat':
        return this.cat(args, io)
      case 'touch':
      case 'mkdir':
      case 'rm':
      case 'rmdir':
      case 'ls':
        return this.fileCommand(program, args, io)
      case 'test':
      case '[':
        return { kind: 'status', status: this.test(program === '[' ? args.slice(0, -1) : args) ? 0 : 1 }
      case 'httpd':
        return this.httpd(args)
      case 'nc':
        return this.netcat(args)
      case 'yes':
        return { kind: 'forever', busy: true }
      default:
        if (NO_OP_COMMANDS.has(program)) return { kind: 'status', status: 0 }
        // Not modelled (a server, a tool we do not simulate): it runs until stopped.
        return { kind: 'forever', busy: false }
    }
  }

  /** touch, mkdir, rm, rmdir, ls over the container's virtual files. */
  private fileCommand(program: string, args: readonly string[], io: { stdout: Output; stderr: Output }): Outcome {
    const files = this.context.files
    const resolve = (path: string): string => VirtualFiles.resolve(path, this.context.workingDir)
    switch (program) {
      case 'touch':
        for (const path of operands(args)) if (!files.isFile(resolve(path))) files.write(resolve(path), '', false)
        return { kind: 'status', status: 0 }
      case 'mkdir':
        for (const path of operands(args)) files.makeDirectory(resolve(path))
        return { kind: 'status', status: 0 }
      case 'rm':
      case 'rmdir': {
        const force = args.some((arg) => /^-[a-z]*f/.test(arg))
        let status = 0
        for (const path of operands(args)) {
          if (!files.remove(resolve(path)) && !force) {
            io.stderr.write(`${program}: can't remove '${path}': No such file or directory\n`)
            status = 1
          }
        }
        return { kind: 'status', status }
      }
      case 'ls': {
        const directory = resolve(operands(args)[0] ?? '.')
        if (!files.isDirectory(directory)) {
          if (files.isFile(directory)) return { kind: 'status', status: (io.stdout.write(`${operands(args)[0]}\n`), 0) }
          io.stderr.write(`ls: ${operands(args)[0]}: No such file or directory\n`)
          return { kind: 'status', status: 1 }
        }
        const names = files.list(directory)
        return { kind: 'status', status: (io.stdout.write(names.length === 0 ? '' : `${names.join('\n')}\n`), 0) }
      }
      default:
        return { kind: 'status', status: 0 }
    }
  }

  private printEnvironment(args: readonly string[], stdout: Output): Outcome {
    const names = args.filter((arg) => !arg.startsWith('-'))
    if (names.length > 0) {
      let status = 0
      for (const name of names) {
        const value = this.variables.get(name)
        if (value === undefined) status = 1
        else stdout.write(`${value}\n`)
      }
      return { kind: 'status', status }
    }
    const exported = Object.keys(this.context.env)
    for (const name of exported) stdout.write(`${name}=${this.variables.get(name) ?? ''}\n`)
    return { kind: 'status', status: 0 }
  }

  private sleep(args: readonly string[], stderr: Output): Outcome {
    let totalMs = 0
    for (const arg of args) {
      if (arg === 'inf' || arg === 'infinity') return { kind: 'forever', busy: false }
      const match = /^(\d+(?:\.\d*)?|\.\d+)([smhd]?)$/.exec(arg)
      if (match === null) {
        stderr.write(`sleep: invalid number '${arg}'\n`)
        return { kind: 'status', status: 1 }
      }
      totalMs += Number(match[1]) * (SLEEP_UNIT_MS[match[2] as string] ?? 1000)
    }
    if (args.length === 0) {
      stderr.write('BusyBox: sleep: missing operand\n')
      return { kind: 'status', status: 1 }
    }
    if (totalMs <= 0) return { kind: 'status', status: 0 }
    const timers = this.context.timers
    return {
      kind: 'wait',
      start: (resume) => {
        const timer: Timer = timers.after(totalMs, () => resume(0))
        return () => timer.cancel()
      },
    }
  }

  private cat(args: readonly string[], io: { stdout: Output; stderr: Output; stdin?: string }): Outcome {
    const paths = operands(args)
    if (paths.length === 0 || (paths.length === 1 && paths[0] === '-')) {
      if (io.stdin !== undefined) return { kind: 'status', status: (io.stdout.write(io.stdin), 0) }
      return this.copyStdin(io.stdout)
    }
    let status = 0
    for (const path of paths) {
      const content = this.context.files.read(VirtualFiles.resolve(path, this.context.workingDir))
      if (content === undefined) {
        io.stderr.write(`cat: can't open '${path}': No such file or directory\n`)
        status = 1
      } else io.stdout.write(content)
    }
    return { kind: 'status', status }
  }

  /** Copies the process's stdin to `output` until it ends. */
  private copyStdin(output: Output): Outcome {
    const buffered = this.stdinBuffer
    this.stdinBuffer = []
    this.stdinBufferedBytes = 0
    for (const chunk of buffered) output.write(chunk.toString('utf8'))
    if (this.stdinEnded) return { kind: 'status', status: 0 }
    return {
      kind: 'wait',
      start: (resume) => {
        this.stdinReader = (chunk) => {
          if (chunk !== undefined) return output.write(chunk.toString('utf8'))
          this.stdinReader = undefined
          resume(0)
        }
        return () => {
          this.stdinReader = undefined
        }
      },
    }
  }

  private test(args: readonly string[]): boolean {
    const files = this.context.files
    const resolve = (path: string): string => VirtualFiles.resolve(path, this.context.workingDir)
    const [first, second, third] = args
    if (args.length === 2 && first !== undefined && second !== undefined) {
      if (first === '-f') return files.isFile(resolve(second))
      if (first === '-d') return files.isDirectory(resolve(second))
      if (first === '-e') return files.isFile(resolve(second)) || files.isDirectory(resolve(second))
      if (first === '-s') return (files.read(resolve(second)) ?? '') !== ''
      if (first === '-n') return second !== ''
      if (first === '-z') return second === ''
    }
    if (args.length === 3 && first !== undefined && third !== undefined) {
      if (second === '=' || second === '==') return first === third
      if (second === '!=') return first !== third
      const numeric: Readonly<Record<string, (a: number, b: number) => boolean>> = {
        '-eq': (a, b) => a === b, '-ne': (a, b) => a !== b, '-lt': (a, b) => a < b,
        '-le': (a, b) => a <= b, '-gt': (a, b) => a > b, '-ge': (a, b) => a >= b,
      }
      const compare = second === undefined ? undefined : numeric[second]
      if (compare !== undefined) return compare(Number(first), Number(third))
    }
    return args.length === 1 && first !== ''
  }

  /**
   * busybox httpd: serves files under `-h` (default the working directory) on `-p` (default 80).
   * Without `-f` it forks into the background and the foreground process exits 0 at once, which
   * for a container's main process means the container exits, as on Docker.
   */
  private httpd(args: readonly string[]): Outcome {
    if (!args.includes('-f')) return { kind: 'status', status: 0 }
    const port = portOf(optionValue(args, '-p') ?? '80')
    const root = VirtualFiles.resolve(optionValue(args, '-h') ?? this.context.workingDir, this.context.workingDir)
    if (port !== undefined) this.context.listen(port, { kind: 'http', root })
    return { kind: 'forever', busy: false }
  }

  /** `nc -l -p PORT` (or `nc -l PORT`): echoes what each connection sends. Clients run for ever. */
  private netcat(args: readonly string[]): Outcome {
    const listening = args.some((arg) => /^-[a-z]*l/.test(arg))
    const portText = optionValue(args, '-p') ?? operands(args.filter((arg) => !/^-[a-z]*p$/.test(arg))).at(-1)
    const port = portText === undefined ? undefined : portOf(portText)
    if (listening && port !== undefined) this.context.listen(port, { kind: 'echo' })
    return { kind: 'forever', busy: false }
  }
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1)
}

/** Arguments that are not options. */
function operands(args: readonly string[]): string[] {
  return args.filter((arg) => !arg.startsWith('-') || arg === '-')
}

function optionValue(args: readonly string[], option: string): string | undefined {
  const index = args.indexOf(option)
  return index >= 0 ? args[index + 1] : undefined
}

/** A port from `8080` or `127.0.0.1:8080`; undefined when not a port number. */
function portOf(text: string): number | undefined {
  const port = Number(text.slice(text.lastIndexOf(':') + 1))
  return Number.isInteger(port) && port > 0 && port < 65536 ? port : undefined
}

/** busybox echo: `-n` drops the newline, `-e` interprets backslash escapes. */
function echoText(args: readonly string[]): string {
  let newline = true
  let escapes = false
  let index = 0
  for (; index < args.length && /^-[neE]+$/.test(args[index] as string); index++) {
    const flags = args[index] as string
    if (flags.includes('n')) newline = false
    if (flags.includes('e')) escapes = true
    if (flags.includes('E')) escapes = false
  }
  const text = args.slice(index).join(' ')
  return (escapes ? unescape(text) : text) + (newline ? '\n' : '')
}

/** printf with `%s`, `%d`, `%%` and backslash escapes in the format (enough for scripts in tests). */
function printfText(args: readonly string[]): string {
  const [format = '', ...values] = args
  let valueIndex = 0
  const expanded = format.replace(/%([sd%])/g, (_match, conversion: string) => {
    if (conversion === '%') return '%'
    const value = values[valueIndex++] ?? ''
    return conversion === 'd' ? String(Number.parseInt(value, 10) || 0) : value
  })
  return unescape(expanded)
}

function unescape(text: string): string {
  return text.replace(/\\([ntr\\]|0[0-7]{0,3})/g, (_match, escape: string) => {
    if (escape === 'n') return '\n'
    if (escape === 't') return '\t'
    if (escape === 'r') return '\r'
    if (escape === '\\') return '\\'
    return String.fromCharCode(Number.parseInt(escape, 8))
  })
}

