/**
 * Cron schedules as CronJobs write them: five fields (minute, hour, day of month, month, day of
 * week) or a descriptor (`@hourly`, `@daily`, `@every 90m`, …). Parsing follows the parser
 * Kubernetes uses (robfig/cron v3 `ParseStandard`), including its error messages, which the API
 * server returns verbatim in `spec.schedule: Invalid value` errors.
 *
 * Field syntax: `*` or `?`, a number or name (`jan`, `mon`), a range `a-b`, any of these with a
 * step `/n` (`5/15` means 5 to the maximum, every 15), and comma-separated lists of all of that.
 * Days of the week run 0 (Sunday) to 6; 7 is refused, as robfig refuses it.
 *
 * `nextCronTimeMs` finds the next activation after a time, in UTC (or at a fixed delay for
 * `@every`), for the CronJob controller. Time zones other than UTC are not evaluated here.
 */
import { FlotillaError } from '../../../../../lib/errors.ts'

/** Schedule text that does not parse. The message is robfig/cron's. */
export class CronParseError extends FlotillaError {
  override name = 'CronParseError'
}

/** A parsed schedule: the values each field allows. */
export interface CronSchedule {
  readonly minutes: ReadonlySet<number>
  readonly hours: ReadonlySet<number>
  readonly daysOfMonth: ReadonlySet<number>
  readonly months: ReadonlySet<number>
  readonly daysOfWeek: ReadonlySet<number>
  /**
   * True when the day-of-month or day-of-week field was an unrestricted `*`/`?`: then a day must
   * match both fields; when both are restricted, matching either is enough (cron's rule).
   */
  readonly dayFieldStar: boolean
  /** For `@every <duration>`: the fixed delay between runs, at least one second. */
  readonly everyMs?: number
  /** The zone of a `TZ=`/`CRON_TZ=` prefix, when the text had one. */
  readonly timeZone?: string
}

interface FieldBounds {
  readonly min: number
  readonly max: number
  readonly names?: Readonly<Record<string, number>>
}

const MONTH_NAMES: Readonly<Record<string, number>> = { jan: 1, feb: 2, mar: 3, apr: 4, may: 5, jun: 6, jul: 7, aug: 8, sep: 9, oct: 10, nov: 11, dec: 12 }
const DAY_NAMES: Readonly<Record<string, number>> = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 }
const FIELD_BOUNDS: readonly FieldBounds[] = [
  { min: 0, max: 59 },
  { min: 0, max: 23 },
  { min: 1, max: 31 },
  { min: 1, max: 12, names: MONTH_NAMES },
  { min: 0, max: 6, names: DAY_NAMES },
]
const DESCRIPTORS: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
}

/** Go's `strconv.Atoi` plus robfig's non-negative rule. */
function parseNumber(text: string): number {
  if (!/^[+-]?[0-9]+$/.test(text)) throw new CronParseError(`failed to parse int from ${text}: strconv.Atoi: parsing ${JSON.stringify(text)}: invalid syntax`)
  const value = Number(text)
  if (value < 0) throw new CronParseError(`negative number (${value}) not allowed: ${text}`)
  return value
}

function parseNumberOrName(text: string, bounds: FieldBounds): number {
  const named = bounds.names?.[text.toLowerCase()]
  return named ?? parseNumber(text)
}

/** One comma-separated part of a field; returns its values and whether it was an unrestricted star. */
function parseRange(expression: string, bounds: FieldBounds): { values: number[]; star: boolean } {
  const rangeAndStep = expression.split('/')
  const lowAndHigh = (rangeAndStep[0] ?? '').split('-')
  let start: number
  let end: number
  let star = false
  if (lowAndHigh[0] === '*' || lowAndHigh[0] === '?') {
    start = bounds.min
    end = bounds.max
    star = true
  } else {
    if (lowAndHigh.length > 2) throw new CronParseError(`too many hyphens: ${expression}`)
    start = parseNumberOrName(lowAndHigh[0] ?? '', bounds)
    end = lowAndHigh.length === 2 ? parseNumberOrName(lowAndHigh[1] ?? '', bounds) : start
  }
  if (rangeAndStep.length > 2) throw new CronParseError(`too many slashes: ${expression}`)
  let step = 1
  if (rangeAndStep.length === 2) {
    step = parseNumber(rangeAndStep[1] ?? '')
    // "N/step" means "from N to the maximum, every step".
    if (lowAndHigh.length === 1) end = bounds.max
    if (step > 1) star = false
  }
  if (start < bounds.min) throw new CronParseError(`beginning of range (${start}) below minimum (${bounds.min}): ${expression}`)
  if (end > bounds.max) throw new CronParseError(`end of range (${end}) above maximum (${bounds.max}): ${expression}`)
  if (start > end) throw new CronParseError(`beginning of range (${start}) beyond end of range (${end}): ${expression}`)
  if (step === 0) throw new CronParseError(`step of range should be a positive number: ${expression}`)
  const values: number[] = []
  for (let value = start; value <= end; value += step) values.push(value)
  return { values, star }
}

function parseField(field: string, bounds: FieldBounds): { values: Set<number>; star: boolean } {
  const values = new Set<number>()
  let star = false
  for (const part of field.split(',')) {
    const range = parseRange(part, bounds)
    for (const value of range.values) values.add(value)
    star ||= range.star
  }
  return { values, star }
}

const DURATION_UNITS_MS: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** Go's `time.ParseDuration`, in milliseconds. */
function parseGoDurationMs(text: string): number {
  const quoted = JSON.stringify(text)
  if (text === '0') return 0
  const body = text.replace(/^[+-]/, '')
  if (body === '') throw new CronParseError(`time: invalid duration ${quoted}`)
  let total = 0
  for (const match of body.matchAll(/([0-9]*\.?[0-9]*)([^0-9.]*)/g)) {
    const [whole, number = '', unit = ''] = match
    if (whole === '') continue
    if (number === '' || number === '.') throw new CronParseError(`time: invalid duration ${quoted}`)
    if (unit === '') throw new CronParseError(`time: missing unit in duration ${quoted}`)
    const scale = DURATION_UNITS_MS[unit]
    if (scale === undefined) throw new CronParseError(`time: unknown unit ${JSON.stringify(unit)} in duration ${quoted}`)
    total += Number(number) * scale
  }
  return text.startsWith('-') ? -total : total
}

function parseDescriptor(spec: string, timeZone: string | undefined): CronSchedule {
  const expanded = DESCRIPTORS[spec]
  if (expanded !== undefined) return { ...parseFields(expanded), ...(timeZone === undefined ? {} : { timeZone }) }
  if (spec.startsWith('@every ')) {
    let delayMs: number
    try {
      delayMs = parseGoDurationMs(spec.slice('@every '.length))
    } catch (error) {
      if (error instanceof CronParseError) throw new CronParseError(`failed to parse duration ${spec}: ${error.message}`)
      throw error
    }
    // robfig rounds the delay down to whole seconds and never runs more than once a second.
    const everyMs = Math.max(1000, Math.floor(delayMs / 1000) * 1000)
    return { ...parseFields('* * * * *'), everyMs, ...(timeZone === undefined ? {} : { timeZone }) }
  }
  throw new CronParseError(`unrecognized descriptor: ${spec}`)
}

function parseFields(spec: string): CronSchedule {
  const fields = spec.split(/\s+/).filter((field) => field !== '')
  if (fields.length !== 5) throw new CronParseError(`expected exactly 5 fields, found ${fields.length}: [${fields.join(' ')}]`)
  const parsed = fields.map((field, i) => parseField(field, FIELD_BOUNDS[i] as FieldBounds))
  const at = (i: number): { values: Set<number>; star: boolean } => parsed[i] ?? { values: new Set(), star: false }
  const [minutes, hours, daysOfMonth, months, daysOfWeek] = [at(0), at(1), at(2), at(3), at(4)]
  return {
    minutes: minutes.values,
    hours: hours.values,
    daysOfMonth: daysOfMonth.values,
    months: months.values,
    daysOfWeek: daysOfWeek.values,
    dayFieldStar: daysOfMonth.star || daysOfWeek.star,
  }
}

/**
 * Parses a schedule.
 * @throws CronParseError with robfig/cron's message when the text is not a schedule.
 */
export function parseCronSchedule(text: string): CronSchedule {
  let spec = text.trim()
  if (spec === '') throw new CronParseError('empty spec string')
  let timeZone: string | undefined
  if (spec.startsWith('TZ=') || spec.startsWith('CRON_TZ=')) {
    const space = spec.indexOf(' ')
    timeZone = spec.slice(spec.indexOf('=') + 1, space < 0 ? undefined : space)
    if (!isKnownTimeZone(timeZone)) throw new CronParseError(`provided bad location ${timeZone}: unknown time zone ${timeZone}`)
    spec = space < 0 ? '' : spec.slice(space).trim()
  }
  if (spec.startsWith('@')) return parseDescriptor(spec, timeZone)
  return { ...parseFields(spec), ...(timeZone === undefined ? {} : { timeZone }) }
}

/** The parse error's message, or undefined when the text is a valid schedule. */
export function cronScheduleError(text: string): string | undefined {
  try {
    parseCronSchedule(text)
    return undefined
  } catch (error) {
    if (error instanceof CronParseError) return error.message
    throw error
  }
}

/** True when the runtime knows the IANA zone (`Europe/Berlin`, `UTC`). */
export function isKnownTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone })
    return zone !== ''
  } catch (error) {
    if (error instanceof RangeError) return false
    throw error
  }
}

const MINUTE_MS = 60_000
/** Every schedule fires within five years (29 February needs up to four); later means never. */
const SEARCH_LIMIT_MS = 5 * 366 * 24 * 60 * MINUTE_MS

/**
 * The first activation strictly after `afterMs`, in UTC, or undefined when the schedule never
 * fires (such as `0 0 30 2 *`). `@every` schedules fire every `everyMs` after `afterMs`.
 */
export function nextCronTimeMs(schedule: CronSchedule, afterMs: number): number | undefined {
  if (schedule.everyMs !== undefined) return Math.floor(afterMs / 1000) * 1000 + schedule.everyMs
  let candidate = Math.floor(afterMs / MINUTE_MS) * MINUTE_MS + MINUTE_MS
  const limit = afterMs + SEARCH_LIMIT_MS
  while (candidate <= limit) {
    const date = new Date(candidate)
    if (!schedule.months.has(date.getUTCMonth() + 1)) {
      candidate = Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 1)
    } else if (!dayMatches(schedule, date)) {
      candidate = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() + 1)
    } else if (!schedule.hours.has(date.getUTCHours())) {
      candidate = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate(), date.getUTCHours() + 1)
    } else if (!schedule.minutes.has(date.getUTCMinutes())) {
      candidate += MINUTE_MS
    } else {
      return candidate
    }
  }
  return undefined
}

function dayMatches(schedule: CronSchedule, date: Date): boolean {
  const dayOfMonth = schedule.daysOfMonth.has(date.getUTCDate())
  const dayOfWeek = schedule.daysOfWeek.has(date.getUTCDay())
  return schedule.dayFieldStar ? dayOfMonth && dayOfWeek : dayOfMonth || dayOfWeek
}
