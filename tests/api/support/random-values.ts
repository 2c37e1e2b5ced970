/**
 * Seeded building blocks for generated API inputs: strings from an alphabet, names and label
 * parts that are valid by construction, and ones that are invalid by construction (a valid value
 * with one forbidden change), so that a generated case never needs the server's own validators
 * as an oracle.
 */
import type { Random } from '../../../lib/random.ts'

export const LOWER_ALPHANUMERIC = 'abcdefghijklmnopqrstuvwxyz0123456789'
const LABEL_VALUE_INNER = `${LOWER_ALPHANUMERIC}ABCDEFGHIJKLMNOPQRSTUVWXYZ-_.`
const CONFIG_MAP_KEY = `${LOWER_ALPHANUMERIC}ABCDEFGHIJKLMNOPQRSTUVWXYZ-_.`

/** Text that stresses encoders: quotes, backslashes, control characters, non-BMP code points. */
const TRICKY_TEXT = ['"', '\\', '\n', '\t', '\u0000', 'é', 'ß', '中', '🚀', '\u2028', '{', '}', '[', ']', ':', ',', ' ', '$', '%', '#', '/', '~']

/** One element of a non-empty list. */
export function pick<T>(random: Random, items: readonly T[]): T {
  if (items.length === 0) throw new RangeError('Cannot pick from an empty list')
  return items[random.int(0, items.length)] as T
}

/** A string of `lengthMin`..`lengthMax` (inclusive) characters drawn from `alphabet`. */
export function randomString(random: Random, alphabet: string, lengthMin: number, lengthMax: number): string {
  const length = random.int(lengthMin, lengthMax + 1)
  let text = ''
  for (let i = 0; i < length; i++) text += alphabet[random.int(0, alphabet.length)]
  return text
}

/** A valid DNS-1123 label (lowercase alphanumerics and inner '-', 1..`lengthMax` characters). */
export function randomDnsLabel(random: Random, lengthMax = 20): string {
  const length = random.int(1, lengthMax + 1)
  if (length === 1) return randomString(random, LOWER_ALPHANUMERIC, 1, 1)
  const inner = randomString(random, `${LOWER_ALPHANUMERIC}-`, length - 2, length - 2)
  return `${randomString(random, LOWER_ALPHANUMERIC, 1, 1)}${inner}${randomString(random, LOWER_ALPHANUMERIC, 1, 1)}`
}

/** A valid label key: an optional DNS-subdomain prefix and a name part of 1..63 characters. */
export function randomLabelKey(random: Random): string {
  const name = randomLabelValue(random, 1)
  return random.chance(0.3) ? `${randomDnsLabel(random, 10)}.example.com/${name}` : name
}

/** A valid label value: empty, or up to 63 of [A-Za-z0-9-_.] starting and ending alphanumeric. */
export function randomLabelValue(random: Random, lengthMin = 0): string {
  const length = random.int(lengthMin, 21)
  if (length === 0) return ''
  if (length === 1) return randomString(random, LOWER_ALPHANUMERIC, 1, 1)
  return `${randomString(random, LOWER_ALPHANUMERIC, 1, 1)}${randomString(random, LABEL_VALUE_INNER, length - 2, length - 2)}${randomString(random, LOWER_ALPHANUMERIC, 1, 1)}`
}

/** A valid ConfigMap data key ([-._a-zA-Z0-9]+, not '.' and not starting with '..'). */
export function randomConfigMapKey(random: Random): string {
  const key = randomString(random, CONFIG_MAP_KEY, 1, 30)
  return key === '.' || key.startsWith('..') ? `k${key}` : key
}

/** Arbitrary Unicode text, mixing plain letters with characters that stress JSON encoding. */
export function randomText(random: Random, lengthMax = 40): string {
  const length = random.int(0, lengthMax + 1)
  let text = ''
  for (let i = 0; i < length; i++) text += random.chance(0.3) ? pick(random, TRICKY_TEXT) : randomString(random, LOWER_ALPHANUMERIC, 1, 1)
  return text
}

/** Characters no DNS-1123 name, label key or label value may contain anywhere. */
const FORBIDDEN_IN_NAMES = [' ', '!', '@', '#', '$', '%', '^', '&', '*', '(', ')', '+', '=', ',', ';', ':', '"', "'", '<', '>', '?', '|', '\\', '`', '~', '{', '}', 'É', '中']

/**
 * A name no Kubernetes object may have: a valid name with a forbidden character, an uppercase
 * letter, a leading or trailing '-', 254..400 characters, '.', '..', or a '/'.
 */
export function randomInvalidName(random: Random): string {
  const base = randomDnsLabel(random, 12)
  const at = random.int(0, base.length + 1)
  switch (random.int(0, 7)) {
    case 0:
      return `${base.slice(0, at)}${pick(random, FORBIDDEN_IN_NAMES)}${base.slice(at)}`
    case 1:
      return `${base.slice(0, at)}${randomString(random, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 1, 3)}${base.slice(at)}`
    case 2:
      return random.chance(0.5) ? `-${base}` : `${base}-`
    case 3:
      return randomString(random, LOWER_ALPHANUMERIC, 254, 400)
    case 4:
      return pick(random, ['.', '..'])
    case 5:
      return `${base}/${randomDnsLabel(random, 5)}`
    default:
      return `${base}_${randomDnsLabel(random, 5)}`
  }
}

/** A label key no object may carry: a forbidden character, an empty or overlong part, or two '/'. */
export function randomInvalidLabelKey(random: Random): string {
  const name = randomLabelValue(random, 1)
  switch (random.int(0, 5)) {
    case 0:
      return `${name}${pick(random, FORBIDDEN_IN_NAMES)}${randomLabelValue(random, 1)}`
    case 1:
      return randomString(random, LOWER_ALPHANUMERIC, 64, 100)
    case 2:
      return `/${name}`
    case 3:
      return `a/b/${name}`
    default:
      return pick(random, ['-', '_', '.']) + name
  }
}

/** A label value no object may carry: a forbidden character, a bad first character, or 64+ characters. */
export function randomInvalidLabelValue(random: Random): string {
  const value = randomLabelValue(random, 1)
  switch (random.int(0, 3)) {
    case 0:
      return `${value}${pick(random, [...FORBIDDEN_IN_NAMES, '/'])}${randomLabelValue(random, 1)}`
    case 1:
      return randomString(random, LOWER_ALPHANUMERIC, 64, 100)
    default:
      return `${pick(random, ['-', '_', '.'])}${value}`
  }
}
