/**
 * resource.Quantity: the fixed-point numbers of resource requests and limits (`250m`, `1.5Gi`,
 * `12e6`), parsed and printed exactly as k8s.io/apimachinery does.
 *
 * A quantity is kept as an exact integer count of nano-units (BigInt), never as a float: `0.1`
 * is 100,000,000 nano-units and `1.5Gi` is 1,610,612,736 × 10^9, so sums, comparisons and the
 * canonical text have no rounding surprises. Finer values than a nano-unit are rounded away from
 * zero on parsing ("if you ask for some resource, you get some"), as Kubernetes does.
 *
 * The canonical text (what `toString` and JSON give) follows Kubernetes: the suffix family the
 * value was written in (binary, decimal SI or exponent), no fractional digits, the largest
 * suffix that loses nothing: `1.5` → `1500m`, `1.5Gi` → `1536Mi`, `0.5Ki` → `512`.
 */
import { FlotillaError } from '../../../../lib/errors.ts'

/** The three notations; a parsed quantity prints in the notation it was written in. */
export type QuantityFormat = 'DecimalSI' | 'BinarySI' | 'DecimalExponent'

/** Text that is not a quantity. The message is the one the real API server gives. */
export class InvalidQuantityError extends FlotillaError {
  override name = 'InvalidQuantityError'
}

/** The regular expression quantities must match, as quoted in Kubernetes' error message. */
export const QUANTITY_PATTERN = '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'
export const QUANTITY_FORMAT_MESSAGE = `quantities must match the regular expression '${QUANTITY_PATTERN}'`
const QUANTITY_SUFFIX_MESSAGE = "unable to parse quantity's suffix"
/** Decimal exponents beyond this are refused, so `1e999999999` cannot make us build a huge BigInt. */
const MAX_DECIMAL_EXPONENT = 1000

const NANOS_PER_UNIT = 10n ** 9n
/** Binary quantities are capped at the largest int64, silently, as Kubernetes caps them. */
const MAX_BINARY_NANOS = (2n ** 63n - 1n) * NANOS_PER_UNIT

const DECIMAL_SUFFIXES: Readonly<Record<string, number>> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 }
const BINARY_SUFFIXES: Readonly<Record<string, number>> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 }
const DECIMAL_SUFFIX_BY_EXPONENT = new Map(Object.entries(DECIMAL_SUFFIXES).map(([suffix, exponent]) => [exponent, suffix]))
const BINARY_SUFFIX_BY_EXPONENT = new Map(Object.entries(BINARY_SUFFIXES).map(([suffix, exponent]) => [exponent, suffix]))

/** An exact resource amount. Immutable. */
export class Quantity {
  /** The value in nano-units (value × 10^9), exact. */
  readonly nanos: bigint
  readonly format: QuantityFormat

  constructor(nanos: bigint, format: QuantityFormat) {
    this.nanos = nanos
    this.format = format
  }

  /**
   * Parses Kubernetes quantity text (`100m`, `1.5Gi`, `2e3`, `0.5`, `-1k`).
   * @throws InvalidQuantityError with the real API server's message.
   */
  static parse(text: string): Quantity {
    return parseQuantity(text)
  }

  /** A whole number of units (cores, bytes) in DecimalSI. */
  static fromUnits(units: bigint | number, format: QuantityFormat = 'DecimalSI'): Quantity {
    return new Quantity(BigInt(units) * NANOS_PER_UNIT, format)
  }

  /** A number of milli-units (millicores) in DecimalSI. */
  static fromMilli(milli: bigint | number): Quantity {
    return new Quantity(BigInt(milli) * 1_000_000n, 'DecimalSI')
  }

  /** The value in whole units, rounded up (Kubernetes' `Value()`): bytes for memory, cores for cpu. */
  value(): bigint {
    return ceilDivide(this.nanos, NANOS_PER_UNIT)
  }

  /** The value in milli-units, rounded up (Kubernetes' `MilliValue()`): millicores for cpu. */
  toMilli(): bigint {
    return ceilDivide(this.nanos, 1_000_000n)
  }

  /** Bytes, for memory and storage quantities: `value()` under the name that reads right. */
  toBytes(): bigint {
    return this.value()
  }

  /** -1, 0 or 1 as this is less than, equal to or greater than `other` (formats do not matter). */
  compare(other: Quantity): -1 | 0 | 1 {
    return this.nanos < other.nanos ? -1 : this.nanos > other.nanos ? 1 : 0
  }

  equals(other: Quantity): boolean {
    return this.nanos === other.nanos
  }

  isZero(): boolean {
    return this.nanos === 0n
  }

  /** The sum, in this quantity's format. */
  add(other: Quantity): Quantity {
    return new Quantity(this.nanos + other.nanos, this.format)
  }

  /** The difference, in this quantity's format. */
  subtract(other: Quantity): Quantity {
    return new Quantity(this.nanos - other.nanos, this.format)
  }

  /** The canonical text, as Kubernetes serializes the quantity. */
  toString(): string {
    return formatQuantity(this.nanos, this.format)
  }

  toJSON(): string {
    return this.toString()
  }
}

/** `Quantity.parse` as a function. */
export function parseQuantity(text: string): Quantity {
  if (text === '') throw new InvalidQuantityError(QUANTITY_FORMAT_MESSAGE)
  const { negative, whole, fraction, suffix } = scanQuantity(text)
  const unit = interpretSuffix(suffix)
  const digits = BigInt(`${whole}${fraction}`)
  let magnitude: bigint
  if (unit.base === 10) {
    // value = digits × 10^(exponent − fraction length); in nanos the power grows by 9.
    magnitude = scaleByPowerOfTen(digits, unit.exponent - fraction.length + 9)
  } else {
    magnitude = scaleByPowerOfTen(digits * 2n ** BigInt(unit.exponent), 9 - fraction.length)
    if (magnitude > MAX_BINARY_NANOS) magnitude = MAX_BINARY_NANOS
  }
  let format = unit.format
  // A binary quantity below one unit has no binary spelling; Kubernetes switches it to decimal.
  if (format === 'BinarySI' && magnitude > 0n && magnitude < NANOS_PER_UNIT) format = 'DecimalSI'
  return new Quantity(negative ? -magnitude : magnitude, format)
}

/** True when the text parses as a quantity. */
export function isQuantity(text: string): boolean {
  try {
    parseQuantity(text)
    return true
  } catch (error) {
    if (error instanceof InvalidQuantityError) return false
    throw error
  }
}

/**
 * Splits quantity text into sign, digits and suffix with the rules of Kubernetes' scanner:
 * leading zeros are dropped, `1.` and `.5` are numbers, the suffix is letters from
 * `eEinumkKMGTP` followed by an optionally signed integer, and nothing may follow.
 */
function scanQuantity(text: string): { negative: boolean; whole: string; fraction: string; suffix: string } {
  let position = 0
  let negative = false
  if (text[0] === '-' || text[0] === '+') {
    negative = text[0] === '-'
    position++
  }
  while (text[position] === '0') position++
  const wholeStart = position
  while (isDigit(text[position])) position++
  const whole = text.slice(wholeStart, position)
  let fraction = ''
  if (text[position] === '.') {
    const fractionStart = ++position
    while (isDigit(text[position])) position++
    fraction = text.slice(fractionStart, position)
  }
  const suffixStart = position
  while (position < text.length && 'eEinumkKMGTP'.includes(text[position] as string)) position++
  if (text[position] === '-' || text[position] === '+') position++
  while (isDigit(text[position])) position++
  if (position < text.length) throw new InvalidQuantityError(QUANTITY_FORMAT_MESSAGE)
  return { negative, whole: whole === '' ? '0' : whole, fraction, suffix: text.slice(suffixStart) }
}

function interpretSuffix(suffix: string): { base: 2 | 10; exponent: number; format: QuantityFormat } {
  const decimal = DECIMAL_SUFFIXES[suffix]
  if (decimal !== undefined) return { base: 10, exponent: decimal, format: 'DecimalSI' }
  const binary = BINARY_SUFFIXES[suffix]
  if (binary !== undefined) return { base: 2, exponent: binary, format: 'BinarySI' }
  if (suffix.length > 1 && (suffix[0] === 'e' || suffix[0] === 'E') && /^[+-]?[0-9]+$/.test(suffix.slice(1))) {
    const exponent = Number(suffix.slice(1))
    if (Math.abs(exponent) > MAX_DECIMAL_EXPONENT) throw new InvalidQuantityError(`quantity exponent must be between -${MAX_DECIMAL_EXPONENT} and ${MAX_DECIMAL_EXPONENT}`)
    return { base: 10, exponent, format: 'DecimalExponent' }
  }
  throw new InvalidQuantityError(QUANTITY_SUFFIX_MESSAGE)
}

/** value × 10^power for a non-negative value, rounding a fractional result away from zero. */
function scaleByPowerOfTen(value: bigint, power: number): bigint {
  if (power >= 0) return value * 10n ** BigInt(power)
  // Dividing by more than the value's own digits leaves 0 or a fraction that rounds up to 1.
  if (-power > value.toString().length) return value === 0n ? 0n : 1n
  return ceilDivide(value, 10n ** BigInt(-power))
}

function formatQuantity(nanos: bigint, format: QuantityFormat): string {
  if (nanos === 0n) return '0'
  const sign = nanos < 0n ? '-' : ''
  const magnitude = nanos < 0n ? -nanos : nanos
  // Binary notation only for whole numbers of at least 1Ki; anything else prints as decimal SI.
  if (format === 'BinarySI' && magnitude >= 1024n * NANOS_PER_UNIT && magnitude % NANOS_PER_UNIT === 0n) {
    let mantissa = magnitude / NANOS_PER_UNIT
    let exponent = 0
    while (mantissa % 1024n === 0n && exponent < 60) {
      mantissa /= 1024n
      exponent += 10
    }
    return `${sign}${mantissa}${BINARY_SUFFIX_BY_EXPONENT.get(exponent) ?? ''}`
  }
  // Strip powers of ten, then step the exponent down to a multiple of three.
  let mantissa = magnitude
  let exponent = -9
  while (mantissa % 10n === 0n) {
    mantissa /= 10n
    exponent++
  }
  const remainder = ((exponent % 3) + 3) % 3
  mantissa *= 10n ** BigInt(remainder)
  exponent -= remainder
  if (format === 'DecimalExponent') return `${sign}${mantissa}${exponent === 0 ? '' : `e${exponent}`}`
  // Decimal SI has no suffix past E (10^18); larger values fall back to exponent notation.
  const suffix = DECIMAL_SUFFIX_BY_EXPONENT.get(exponent)
  return `${sign}${mantissa}${suffix ?? `e${exponent}`}`
}

function ceilDivide(numerator: bigint, denominator: bigint): bigint {
  const quotient = numerator / denominator
  return numerator % denominator > 0n ? quotient + 1n : quotient
}

function isDigit(character: string | undefined): boolean {
  return character !== undefined && character >= '0' && character <= '9'
}
