/**
 * Kubernetes name rules: DNS-1123 labels and subdomains, DNS-1035 labels, qualified names (label
 * and annotation keys), label values, and `metadata.generateName`.
 *
 * Each check returns the list of problems in the exact words of k8s.io/apimachinery's
 * `util/validation` (an empty list means valid), because clients and users see these strings in
 * `Invalid` errors and scripts sometimes match on them. The example lists reproduce a quirk of the
 * original: every example is followed by `', '` before ` or `, hence `'my-name',  or '123-abc'`.
 */
import type { Random } from '../../../../lib/random.ts'

const DNS1123_LABEL_FORMAT = '[a-z0-9]([-a-z0-9]*[a-z0-9])?'
const DNS1123_LABEL_MESSAGE = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
export const DNS1123_LABEL_MAX_LENGTH = 63

const DNS1123_SUBDOMAIN_FORMAT = `${DNS1123_LABEL_FORMAT}(\\.${DNS1123_LABEL_FORMAT})*`
const DNS1123_SUBDOMAIN_MESSAGE = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
export const DNS1123_SUBDOMAIN_MAX_LENGTH = 253

const DNS1035_LABEL_FORMAT = '[a-z]([-a-z0-9]*[a-z0-9])?'
const DNS1035_LABEL_MESSAGE = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character"
export const DNS1035_LABEL_MAX_LENGTH = 63

const QUALIFIED_NAME_FORMAT = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'
const QUALIFIED_NAME_MESSAGE = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
export const QUALIFIED_NAME_MAX_LENGTH = 63

const LABEL_VALUE_FORMAT = `(${QUALIFIED_NAME_FORMAT})?`
const LABEL_VALUE_MESSAGE = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
export const LABEL_VALUE_MAX_LENGTH = 63

const DNS1123_LABEL = new RegExp(`^${DNS1123_LABEL_FORMAT}$`)
const DNS1123_SUBDOMAIN = new RegExp(`^${DNS1123_SUBDOMAIN_FORMAT}$`)
const DNS1035_LABEL = new RegExp(`^${DNS1035_LABEL_FORMAT}$`)
const QUALIFIED_NAME = new RegExp(`^${QUALIFIED_NAME_FORMAT}$`)
const LABEL_VALUE = new RegExp(`^${LABEL_VALUE_FORMAT}$`)

/** `must be no more than N characters`, as Kubernetes words a length limit. */
export function maxLengthMessage(maxLength: number): string {
  return `must be no more than ${maxLength} characters`
}

/** Kubernetes' regex failure message: the rule, examples, and the regex itself. */
export function regexMessage(message: string, format: string, ...examples: string[]): string {
  if (examples.length === 0) return `${message} (regex used for validation is '${format}')`
  const listed = examples.map((example) => `'${example}', `).join(' or ')
  return `${message} (e.g. ${listed}regex used for validation is '${format}')`
}

/** Problems with `value` as a DNS-1123 label (namespace names, most label-like names). */
export function dns1123LabelErrors(value: string): string[] {
  const errors: string[] = []
  if (utf8Length(value) > DNS1123_LABEL_MAX_LENGTH) errors.push(maxLengthMessage(DNS1123_LABEL_MAX_LENGTH))
  if (!DNS1123_LABEL.test(value)) errors.push(regexMessage(DNS1123_LABEL_MESSAGE, DNS1123_LABEL_FORMAT, 'my-name', '123-abc'))
  return errors
}

/** Problems with `value` as a DNS-1123 subdomain (the name rule of most object kinds). */
export function dns1123SubdomainErrors(value: string): string[] {
  const errors: string[] = []
  if (utf8Length(value) > DNS1123_SUBDOMAIN_MAX_LENGTH) errors.push(maxLengthMessage(DNS1123_SUBDOMAIN_MAX_LENGTH))
  if (!DNS1123_SUBDOMAIN.test(value)) errors.push(regexMessage(DNS1123_SUBDOMAIN_MESSAGE, DNS1123_SUBDOMAIN_FORMAT, 'example.com'))
  return errors
}

/** Problems with `value` as a DNS-1035 label (Service names: they become DNS names and env vars). */
export function dns1035LabelErrors(value: string): string[] {
  const errors: string[] = []
  if (utf8Length(value) > DNS1035_LABEL_MAX_LENGTH) errors.push(maxLengthMessage(DNS1035_LABEL_MAX_LENGTH))
  if (!DNS1035_LABEL.test(value)) errors.push(regexMessage(DNS1035_LABEL_MESSAGE, DNS1035_LABEL_FORMAT, 'my-name', 'abc-123'))
  return errors
}

/**
 * Problems with `value` as a qualified name: `[prefix/]name` where the optional prefix is a DNS
 * subdomain and the name is at most 63 alphanumerics, '-', '_' or '.'. Label and annotation keys
 * and finalizers follow this rule.
 */
export function qualifiedNameErrors(value: string): string[] {
  const errors: string[] = []
  const parts = value.split('/')
  let name: string
  if (parts.length === 1) {
    name = value
  } else if (parts.length === 2) {
    const prefix = parts[0] ?? ''
    name = parts[1] ?? ''
    if (prefix === '') errors.push('prefix part must be non-empty')
    else errors.push(...dns1123SubdomainErrors(prefix).map((message) => `prefix part ${message}`))
  } else {
    const rule = regexMessage(QUALIFIED_NAME_MESSAGE, QUALIFIED_NAME_FORMAT, 'MyName', 'my.name', '123-abc')
    return [`a qualified name ${rule} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`]
  }
  if (name === '') errors.push('name part must be non-empty')
  else if (utf8Length(name) > QUALIFIED_NAME_MAX_LENGTH) errors.push(`name part ${maxLengthMessage(QUALIFIED_NAME_MAX_LENGTH)}`)
  if (!QUALIFIED_NAME.test(name)) {
    errors.push(`name part ${regexMessage(QUALIFIED_NAME_MESSAGE, QUALIFIED_NAME_FORMAT, 'MyName', 'my.name', '123-abc')}`)
  }
  return errors
}

/** Problems with `value` as a label value: empty, or at most 63 alphanumerics, '-', '_' or '.'. */
export function labelValueErrors(value: string): string[] {
  const errors: string[] = []
  if (utf8Length(value) > LABEL_VALUE_MAX_LENGTH) errors.push(maxLengthMessage(LABEL_VALUE_MAX_LENGTH))
  if (!LABEL_VALUE.test(value)) errors.push(regexMessage(LABEL_VALUE_MESSAGE, LABEL_VALUE_FORMAT, 'MyValue', 'my_value', '12345'))
  return errors
}

/**
 * Problems with an object name as a DNS subdomain. With `prefix` (checking a `generateName`), a
 * trailing '-' is allowed, because random characters will follow it.
 */
export function nameIsDnsSubdomain(name: string, prefix: boolean): string[] {
  return dns1123SubdomainErrors(prefix ? maskTrailingDash(name) : name)
}

/**
 * Problems with a name as one URL path segment. Every object name must pass this, whatever its
 * kind's own rule, because names appear in request paths.
 */
export function pathSegmentNameErrors(name: string): string[] {
  if (name === '.' || name === '..') return [`may not be '${name}'`]
  const errors: string[] = []
  for (const illegal of ['/', '%']) {
    if (name.includes(illegal)) errors.push(`may not contain '${illegal}'`)
  }
  return errors
}

/** The characters Kubernetes draws generated suffixes from: no vowels (no words), no 0/1/3. */
export const GENERATED_NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789'
const GENERATED_SUFFIX_LENGTH = 5
/** Prefixes are cut so that prefix + suffix fits in a 63-character label, as Kubernetes does. */
const GENERATED_PREFIX_MAX_LENGTH = 63 - GENERATED_SUFFIX_LENGTH

/**
 * A name for `metadata.generateName`: the prefix (cut to 58 characters) followed by 5 random
 * characters. The caller retries on AlreadyExists, as the real API server does.
 */
export function generateName(prefix: string, random: Random): string {
  let suffix = ''
  for (let index = 0; index < GENERATED_SUFFIX_LENGTH; index++) {
    suffix += GENERATED_NAME_ALPHABET[random.int(0, GENERATED_NAME_ALPHABET.length)]
  }
  return prefix.slice(0, GENERATED_PREFIX_MAX_LENGTH) + suffix
}

function maskTrailingDash(name: string): string {
  return name.length > 1 && name.endsWith('-') ? `${name.slice(0, -1)}a` : name
}

/** Kubernetes limits lengths in bytes (Go's len), not in UTF-16 code units. */
function utf8Length(value: string): number {
  return UTF8.encode(value).length
}

const UTF8 = new TextEncoder()
