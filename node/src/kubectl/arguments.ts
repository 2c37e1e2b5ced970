/**
 * Command-line flags the way kubectl (spf13/pflag) reads them, so that muscle memory carries over:
 * flags anywhere among the arguments, `--name value` and `--name=value`, `-n value`, `-nvalue` and
 * `-n=value`, clusters of short booleans (`-Aw`), booleans written out (`--wait=false`), repeated
 * flags collected for list flags (`-f a.yaml -f b.yaml`), and `--` ending the flags.
 *
 * Unknown flags and missing values are KubectlUsageErrors naming the flag. The parser knows only
 * the flags it is given; each verb passes its own together with the global ones.
 */
import { KubectlUsageError } from './errors.ts'

/** One flag a verb accepts. */
export interface FlagSpec {
  /** The long name without dashes: `namespace`. */
  readonly name: string
  /** A one-letter alias: `n` for `-n`. */
  readonly short?: string
  /** Booleans take no separate value (`--wait`, `--wait=false`); strings need one. */
  readonly type: 'boolean' | 'string'
  /** Repeatable: every occurrence is kept, in order (`-f a -f b`). Strings only. */
  readonly multiple?: boolean
}

/** The result of parsing: flag values by long name, and the positional arguments in order. */
export class ParsedArguments {
  readonly positionals: readonly string[]
  private readonly values: ReadonlyMap<string, ReadonlyArray<string | boolean>>

  constructor(positionals: readonly string[], values: ReadonlyMap<string, ReadonlyArray<string | boolean>>) {
    this.positionals = positionals
    this.values = values
  }

  /** True when the flag appeared at all. */
  has(name: string): boolean {
    return this.values.has(name)
  }

  /** The last value of a string flag, or undefined when it was not given. */
  string(name: string): string | undefined {
    const values = this.values.get(name)
    const last = values?.[values.length - 1]
    return typeof last === 'string' ? last : undefined
  }

  /** Every value of a repeatable string flag, in order. */
  strings(name: string): string[] {
    return (this.values.get(name) ?? []).filter((value): value is string => typeof value === 'string')
  }

  /** The last value of a boolean flag, or `fallback` when it was not given. */
  boolean(name: string, fallback = false): boolean {
    const values = this.values.get(name)
    const last = values?.[values.length - 1]
    return typeof last === 'boolean' ? last : fallback
  }
}

/**
 * Parses `argv` against `specs`.
 * @throws KubectlUsageError for an unknown flag, a missing value or a malformed boolean.
 */
export function parseArguments(argv: readonly string[], specs: readonly FlagSpec[]): ParsedArguments {
  const byLong = new Map(specs.map((spec) => [spec.name, spec]))
  const byShort = new Map(specs.filter((spec) => spec.short !== undefined).map((spec) => [spec.short!, spec]))
  const values = new Map<string, Array<string | boolean>>()
  const positionals: string[] = []
  const record = (spec: FlagSpec, value: string | boolean): void => {
    const list = values.get(spec.name) ?? []
    if (spec.multiple === true) list.push(value)
    else list.splice(0, list.length, value)
    values.set(spec.name, list)
  }
  for (let index = 0; index < argv.length; index += 1) {
    const argument = argv[index]!
    if (argument === '--') {
      positionals.push(...argv.slice(index + 1))
      break
    }
    if (argument.startsWith('--')) {
      const equals = argument.indexOf('=')
      const name = argument.slice(2, equals === -1 ? undefined : equals)
      const spec = byLong.get(name)
      if (spec === undefined) throw new KubectlUsageError(`unknown flag: --${name}`)
      const inline = equals === -1 ? undefined : argument.slice(equals + 1)
      if (spec.type === 'boolean') {
        record(spec, inline === undefined ? true : parseBoolean(`--${name}`, inline))
      } else if (inline !== undefined) {
        record(spec, inline)
      } else {
        const next = argv[index + 1]
        if (next === undefined) throw new KubectlUsageError(`flag needs an argument: --${name}`)
        record(spec, next)
        index += 1
      }
      continue
    }
    if (argument.startsWith('-') && argument.length > 1) {
      index = parseShortCluster(argv, index, byShort, record)
      continue
    }
    positionals.push(argument)
  }
  return new ParsedArguments(positionals, values)
}

/** `-Aw`, `-n default`, `-ndefault`, `-n=default`; returns the index of the last argv entry used. */
function parseShortCluster(argv: readonly string[], index: number, byShort: ReadonlyMap<string, FlagSpec>, record: (spec: FlagSpec, value: string | boolean) => void): number {
  const argument = argv[index]!
  for (let position = 1; position < argument.length; position += 1) {
    const letter = argument[position]!
    const spec = byShort.get(letter)
    if (spec === undefined) throw new KubectlUsageError(`unknown shorthand flag: '${letter}' in ${argument}`)
    const rest = argument.slice(position + 1)
    if (spec.type === 'boolean') {
      if (rest.startsWith('=')) {
        record(spec, parseBoolean(`-${letter}`, rest.slice(1)))
        return index
      }
      record(spec, true)
      continue
    }
    if (rest !== '') {
      record(spec, rest.startsWith('=') ? rest.slice(1) : rest)
      return index
    }
    const next = argv[index + 1]
    if (next === undefined) throw new KubectlUsageError(`flag needs an argument: '${letter}' in -${letter}`)
    record(spec, next)
    return index + 1
  }
  return index
}

function parseBoolean(flag: string, text: string): boolean {
  if (text === 'true' || text === '1' || text === 't' || text === 'T' || text === 'TRUE' || text === 'True') return true
  if (text === 'false' || text === '0' || text === 'f' || text === 'F' || text === 'FALSE' || text === 'False') return false
  throw new KubectlUsageError(`invalid argument "${text}" for "${flag}" flag: expected true or false`)
}

/**
 * A non-negative whole number from a flag value (`--replicas 3`, `--tail 20`).
 * @throws KubectlUsageError naming the flag when the text is not one.
 */
export function wholeNumberFlag(flag: string, text: string, options: { allowNegativeOne?: boolean } = {}): number {
  const value = Number(text)
  if (text.trim() === '' || !Number.isSafeInteger(value) || (value < 0 && !(options.allowNegativeOne === true && value === -1))) {
    throw new KubectlUsageError(`invalid argument "${text}" for "--${flag}" flag: expected a whole number`)
  }
  return value
}
