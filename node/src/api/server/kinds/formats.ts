/**
 * String formats the Kubernetes API checks in many kinds: port numbers and IANA service names,
 * environment variable names, ConfigMap/Secret keys, IP addresses and CIDRs, percentages, and
 * local paths. Each `…Errors` function returns the problems in the exact words of
 * k8s.io/apimachinery's `util/validation` (empty when valid), because kubectl prints them and
 * scripts match on them.
 */
import { isIP } from 'node:net'
import type { JsonValue } from '../../machinery/canonical.ts'
import { fieldInvalid, type FieldError } from '../../machinery/field-errors.ts'
import { DNS1123_SUBDOMAIN_MAX_LENGTH, maxLengthMessage, regexMessage } from '../../machinery/names.ts'
import { isInteger } from './json-access.ts'

export const PORT_RANGE_MESSAGE = 'must be between 1 and 65535, inclusive'
const PORT_MAX = 65535

/** Problems with a TCP/UDP port number (`IsValidPortNum`). */
export function portNumberMessages(port: number): string[] {
  return Number.isInteger(port) && port >= 1 && port <= PORT_MAX ? [] : [PORT_RANGE_MESSAGE]
}

const IANA_SERVICE_NAME_MAX_LENGTH = 15

/** Problems with a named port, an IANA_SVC_NAME (`IsValidPortName`): `http`, `metrics-2`. */
export function portNameMessages(name: string): string[] {
  const messages: string[] = []
  if (name.length > IANA_SERVICE_NAME_MAX_LENGTH) messages.push(maxLengthMessage(IANA_SERVICE_NAME_MAX_LENGTH))
  if (!/^[-a-z0-9]+$/.test(name)) messages.push('must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)')
  if (!/[a-z]/.test(name)) messages.push('must contain at least one letter (a-z)')
  if (name.includes('--')) messages.push('must not contain consecutive hyphens (--)')
  if (name.startsWith('-') || name.endsWith('-')) messages.push('must not begin or end with a hyphen (-)')
  return messages
}

/** A field that must hold a port number (any non-integer is out of range too). */
export function portNumberErrors(value: JsonValue | undefined, path: string): FieldError[] {
  const messages = portNumberMessages(isInteger(value) ? value : Number.NaN)
  return messages.map((message) => fieldInvalid(path, value ?? 0, message))
}

/**
 * An int-or-string port (`targetPort`, probe ports): a number must be a valid port, a string a
 * valid port name (`ValidatePortNumOrName`).
 */
export function portNumberOrNameErrors(value: JsonValue | undefined, path: string): FieldError[] {
  if (typeof value === 'number') return portNumberMessages(value).map((message) => fieldInvalid(path, value, message))
  if (typeof value === 'string') return portNameMessages(value).map((message) => fieldInvalid(path, value, message))
  return [fieldInvalid(path, value ?? null, PORT_RANGE_MESSAGE)]
}

/** `.`/`..` and `..`-prefixed names would escape the directory a key or variable is written to. */
function dotPrefixMessages(value: string): string[] {
  if (value === '.') return ["must not be '.'"]
  if (value === '..') return ["must not be '..'"]
  if (value.startsWith('..')) return ["must not start with '..'"]
  return []
}

const ENV_VAR_NAME_FORMAT = '[-._a-zA-Z][-._a-zA-Z0-9]*'
const ENV_VAR_NAME = new RegExp(`^${ENV_VAR_NAME_FORMAT}$`)
const ENV_VAR_NAME_MESSAGE = "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit"

/** Problems with an environment variable name (`IsEnvVarName`). */
export function envVarNameMessages(name: string): string[] {
  const messages = ENV_VAR_NAME.test(name) ? [] : [regexMessage(ENV_VAR_NAME_MESSAGE, ENV_VAR_NAME_FORMAT, 'my.env-name', 'MY_ENV.NAME', 'MyEnvName1')]
  return [...messages, ...dotPrefixMessages(name)]
}

const CONFIG_KEY_FORMAT = '[-._a-zA-Z0-9]+'
const CONFIG_KEY = new RegExp(`^${CONFIG_KEY_FORMAT}$`)
const CONFIG_KEY_MESSAGE = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"

/** Problems with a ConfigMap or Secret key (`IsConfigMapKey`): it becomes a file name. */
export function configKeyMessages(key: string): string[] {
  const messages: string[] = []
  if (Buffer.byteLength(key) > DNS1123_SUBDOMAIN_MAX_LENGTH) messages.push(maxLengthMessage(DNS1123_SUBDOMAIN_MAX_LENGTH))
  if (!CONFIG_KEY.test(key)) messages.push(regexMessage(CONFIG_KEY_MESSAGE, CONFIG_KEY_FORMAT, 'key.name', 'KEY_NAME', 'key-name'))
  return [...messages, ...dotPrefixMessages(key)]
}

export const IP_MESSAGE = 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)'

/** Problems with an IPv4 or IPv6 address (`IsValidIP`). */
export function ipMessages(value: string): string[] {
  return isIP(value) === 0 ? [IP_MESSAGE] : []
}

/** True for a CIDR such as `10.244.1.0/24` or `fd00::/64` (Go's `net.ParseCIDR`). */
export function isCidr(value: string): boolean {
  const slash = value.indexOf('/')
  if (slash < 0) return false
  const family = isIP(value.slice(0, slash))
  const bits = value.slice(slash + 1)
  if (family === 0 || !/^[0-9]{1,3}$/.test(bits)) return false
  return Number(bits) <= (family === 4 ? 32 : 128)
}

const PERCENT_FORMAT = '[0-9]+%'
const PERCENT = new RegExp(`^${PERCENT_FORMAT}$`)

/**
 * An int-or-percent (`maxSurge`, `maxUnavailable`): an integer ≥ 0 or a string like `25%`
 * (`ValidatePositiveIntOrPercent`).
 */
export function intOrPercentErrors(value: JsonValue | undefined, path: string): FieldError[] {
  if (typeof value === 'string') {
    if (PERCENT.test(value)) return []
    return [fieldInvalid(path, value, regexMessage("a valid percent string must be a numeric string followed by an ending '%'", PERCENT_FORMAT, '1%', '93%'))]
  }
  if (isInteger(value)) return value < 0 ? [fieldInvalid(path, value, 'must be greater than or equal to 0')] : []
  return [fieldInvalid(path, value ?? null, "must be an integer or percentage (e.g '5%')")]
}

/** The number an int-or-percent stands for when compared with zero (`25%` → 25, `3` → 3). */
export function intOrPercentMagnitude(value: JsonValue | undefined): number {
  if (typeof value === 'number') return value
  if (typeof value === 'string' && PERCENT.test(value)) return Number(value.slice(0, -1))
  return 0
}

/** A percentage over 100 (`IsNotMoreThan100Percent`). */
export function notOver100PercentErrors(value: JsonValue | undefined, path: string): FieldError[] {
  if (typeof value !== 'string' || !PERCENT.test(value) || Number(value.slice(0, -1)) <= 100) return []
  return [fieldInvalid(path, value, 'must not be greater than 100%')]
}

/** A path inside a volume (`subPath`, `items[].path`): relative and without `..` steps. */
export function localDescendingPathErrors(value: string, path: string): FieldError[] {
  const errors: FieldError[] = []
  if (value.startsWith('/')) errors.push(fieldInvalid(path, value, 'must be a relative path'))
  if (value.split('/').includes('..')) errors.push(fieldInvalid(path, value, "must not contain '..'"))
  return errors
}

/** `localDescendingPathErrors` plus no leading `..` (`ValidateLocalNonReservedPath`). */
export function localNonReservedPathErrors(value: string, path: string): FieldError[] {
  const errors = localDescendingPathErrors(value, path)
  if (value.startsWith('..') && !value.startsWith('../')) errors.push(fieldInvalid(path, value, "must not start with '..'"))
  return errors
}
