/**
 * Label and field selectors: the `labelSelector` and `fieldSelector` query parameters of list,
 * watch and deletecollection, and the `LabelSelector` objects inside Deployments, ReplicaSets and
 * Services.
 *
 * The label selector grammar and its error messages follow k8s.io/apimachinery/pkg/labels:
 *
 *   selector    ::= requirement ( "," requirement )*
 *   requirement ::= [ "!" ] KEY [ ( "=" | "==" | "!=" | ">" | "<" ) VALUE | ( "in" | "notin" ) "(" VALUES ")" ]
 *
 * Commas inside parentheses separate values, not requirements; whitespace between tokens is
 * ignored; keys must be qualified names and values valid label values. A selector that does not
 * parse is a 400 whose message starts like the real server's (`unable to parse requirement: …`),
 * because that is the text kubectl shows after its own prefix.
 *
 * Field selectors are simpler (`a=b`, `a==b`, `a!=b`, comma = AND, `\` escapes in values) but
 * each resource accepts only some field labels, so parsing takes that resource's allow-list.
 */
import { aggregateMessage, fieldForbidden, fieldInvalid, fieldRequired, formatFieldError, type FieldError } from './field-errors.ts'
import { labelValueErrors, qualifiedNameErrors } from './names.ts'
import { badRequest } from './status.ts'

/** The relation a requirement expresses (the selection.Operator values of apimachinery). */
export type LabelOperator = 'in' | 'notin' | '=' | '==' | '!=' | 'exists' | '!' | 'gt' | 'lt'

/** One condition on one label; a selector is the AND of its requirements. */
export interface LabelRequirement {
  readonly key: string
  readonly operator: LabelOperator
  /** Sorted and deduplicated for `in`/`notin`; one value for the equality and gt/lt operators. */
  readonly values: readonly string[]
}

/** Labels as they appear in `metadata.labels` (absent means no labels). */
export type Labels = Readonly<Record<string, string>> | undefined

/** A parsed label selector. */
export interface LabelSelector {
  /** Sorted by key, as the real parser sorts them. */
  readonly requirements: readonly LabelRequirement[]
  /** True when every requirement holds for these labels. */
  matches(labels: Labels): boolean
  /** True for the selector that matches everything (no requirements). */
  isEmpty(): boolean
  /** The value a label must have for any object to match (`app=web`, `app in (web)`), if any. */
  requiresExactMatch(key: string): string | undefined
  /** The canonical text form: `app=web,tier in (a,b),!legacy`. */
  toString(): string
}

/** The `LabelSelector` object of workload specs (metav1.LabelSelector). */
export interface LabelSelectorObject {
  readonly matchLabels?: Readonly<Record<string, string>> | null
  readonly matchExpressions?: readonly LabelSelectorExpression[] | null
}

/** One `matchExpressions` entry. */
export interface LabelSelectorExpression {
  readonly key: string
  readonly operator: string
  readonly values?: readonly string[] | null
}

/**
 * Parses the `labelSelector` query parameter. Empty (or blank) text selects everything.
 * @throws ApiError BadRequest with the real API server's message when the text does not parse.
 */
export function parseLabelSelector(text: string): LabelSelector {
  const requirements = new LabelParser(text).parse()
  return selectorOf(requirements.sort(byKey))
}

/**
 * The selector a LabelSelector object stands for, as metav1.LabelSelectorAsSelector builds it:
 * `null`/absent matches nothing (a workload without a selector must not adopt every pod), an
 * empty object matches everything.
 * @throws ApiError BadRequest when a key, value or operator is invalid (see labelSelectorErrors).
 */
export function labelSelectorFromObject(selector: LabelSelectorObject | null | undefined): LabelSelector {
  if (selector === null || selector === undefined) return NOTHING
  const errors = labelSelectorErrors(selector, '')
  if (errors.length > 0) throw badRequest(aggregateMessage(errors.map(formatFieldError)))
  const requirements: LabelRequirement[] = []
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) requirements.push({ key, operator: '=', values: [value] })
  for (const expression of selector.matchExpressions ?? []) {
    const operator = EXPRESSION_OPERATORS[expression.operator] as LabelOperator
    requirements.push({ key: expression.key, operator, values: [...(expression.values ?? [])] })
  }
  return selectorOf(requirements.sort(byKey))
}

/**
 * The problems with a LabelSelector object, as field errors under `fieldPath` (for example
 * `spec.selector`), worded as the real API server's workload validation words them. Empty when
 * the selector is usable.
 */
export function labelSelectorErrors(selector: LabelSelectorObject, fieldPath: string): FieldError[] {
  const errors: FieldError[] = []
  const child = (name: string): string => (fieldPath === '' ? name : `${fieldPath}.${name}`)
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    for (const message of qualifiedNameErrors(key)) errors.push(fieldInvalid(child('matchLabels'), key, message))
    for (const message of labelValueErrors(value)) errors.push(fieldInvalid(child('matchLabels'), value, message))
  }
  for (const [index, expression] of (selector.matchExpressions ?? []).entries()) {
    const path = child(`matchExpressions[${index}]`)
    const values = expression.values ?? []
    switch (EXPRESSION_OPERATORS[expression.operator]) {
      case 'in':
      case 'notin':
        if (values.length === 0) errors.push(fieldRequired(`${path}.values`, "must be specified when `operator` is 'In' or 'NotIn'"))
        break
      case 'exists':
      case '!':
        if (values.length > 0) errors.push(fieldForbidden(`${path}.values`, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
        break
      default:
        errors.push(fieldInvalid(`${path}.operator`, expression.operator, 'not a valid selector operator'))
    }
    for (const message of qualifiedNameErrors(expression.key)) errors.push(fieldInvalid(`${path}.key`, expression.key, message))
    for (const [valueIndex, value] of values.entries()) {
      for (const message of labelValueErrors(value)) errors.push(fieldInvalid(`${path}.values[${valueIndex}]`, value, message))
    }
  }
  return errors
}

/** The operators a LabelSelector object may use, mapped to the selector operators. */
const EXPRESSION_OPERATORS: Readonly<Record<string, LabelOperator>> = { In: 'in', NotIn: 'notin', Exists: 'exists', DoesNotExist: '!' }

/** A selector that matches everything. */
export const EVERYTHING: LabelSelector = selectorOf([])

/** A selector that matches nothing (the meaning of an absent LabelSelector object). */
export const NOTHING: LabelSelector = {
  requirements: [],
  matches: () => false,
  isEmpty: () => false,
  requiresExactMatch: () => undefined,
  toString: () => '',
}

function selectorOf(requirements: readonly LabelRequirement[]): LabelSelector {
  return {
    requirements,
    matches: (labels) => requirements.every((requirement) => requirementMatches(requirement, labels ?? {})),
    isEmpty: () => requirements.length === 0,
    requiresExactMatch: (key) => {
      const requirement = requirements.find((candidate) => candidate.key === key)
      if (requirement === undefined || requirement.values.length !== 1) return undefined
      return ['=', '==', 'in'].includes(requirement.operator) ? requirement.values[0] : undefined
    },
    toString: () => requirements.map(requirementText).join(','),
  }
}

function requirementMatches({ key, operator, values }: LabelRequirement, labels: Readonly<Record<string, string>>): boolean {
  const present = Object.hasOwn(labels, key)
  const value = labels[key]
  switch (operator) {
    case 'in':
    case '=':
    case '==':
      return present && values.includes(value ?? '')
    case 'notin':
    case '!=':
      return !present || !values.includes(value ?? '')
    case 'exists':
      return present
    case '!':
      return !present
    case 'gt':
    case 'lt': {
      // Both sides are validated as 64-bit integers; label values that are not integers never match.
      const label = present ? parseInt64(value ?? '') : undefined
      const bound = values.length === 1 ? parseInt64(values[0] ?? '') : undefined
      if (label === undefined || bound === undefined) return false
      return operator === 'gt' ? label > bound : label < bound
    }
  }
}

function requirementText({ key, operator, values }: LabelRequirement): string {
  switch (operator) {
    case 'exists':
      return key
    case '!':
      return `!${key}`
    case 'in':
    case 'notin':
      return `${key} ${operator} (${values.join(',')})`
    case 'gt':
      return `${key}>${values[0] ?? ''}`
    case 'lt':
      return `${key}<${values[0] ?? ''}`
    default:
      return `${key}${operator}${values[0] ?? ''}`
  }
}

function byKey(a: LabelRequirement, b: LabelRequirement): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0
}

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

/** Go's strconv.ParseInt(value, 10, 64), or undefined. */
function parseInt64(value: string): bigint | undefined {
  if (!/^[+-]?[0-9]+$/.test(value)) return undefined
  const parsed = BigInt(value)
  return parsed < INT64_MIN || parsed > INT64_MAX ? undefined : parsed
}

/**
 * The checks of labels.NewRequirement: a valid key, the right number of values for the operator,
 * integers for gt/lt, and valid label values. `path` prefixes the field names (`''` in the query
 * parameter parser, which reports `values[0][key]`).
 */
function requirementErrors(key: string, operator: LabelOperator, values: readonly string[], path: string): FieldError[] {
  const errors: FieldError[] = []
  const child = (name: string): string => (path === '' ? name : `${path}.${name}`)
  const keyErrors = qualifiedNameErrors(key)
  if (keyErrors.length > 0) errors.push(fieldInvalid(child('key'), key, keyErrors.join('; ')))
  switch (operator) {
    case 'in':
    case 'notin':
      if (values.length === 0) errors.push(fieldInvalid(child('values'), values, "for 'in', 'notin' operators, values set can't be empty"))
      break
    case '=':
    case '==':
    case '!=':
      if (values.length !== 1) errors.push(fieldInvalid(child('values'), values, 'exact-match compatibility requires one single value'))
      break
    case 'exists':
    case '!':
      if (values.length !== 0) errors.push(fieldInvalid(child('values'), values, 'values set must be empty for exists and does not exist'))
      break
    case 'gt':
    case 'lt':
      if (values.length !== 1) errors.push(fieldInvalid(child('values'), values, "for 'Gt', 'Lt' operators, exactly one value is required"))
      for (const [index, value] of values.entries()) {
        if (parseInt64(value) === undefined) {
          errors.push(fieldInvalid(`${child('values')}[${index}]`, value, "for 'Gt', 'Lt' operators, the value must be an integer"))
        }
      }
      break
  }
  for (const [index, value] of values.entries()) {
    const problems = labelValueErrors(value)
    if (problems.length > 0) errors.push(fieldInvalid(`${child('values')}[${index}][${key}]`, value, problems.join('; ')))
  }
  return errors
}

// ---------------------------------------------------------------------------------------------
// The label selector lexer and parser. Token boundaries, the context in which `in` and `notin`
// are keywords, and every error text follow apimachinery's labels.Parser, so that a selector
// either parses here and on a real server alike or fails with the same message.

type TokenKind = 'end' | 'identifier' | '(' | ')' | ',' | '!' | '=' | '==' | '!=' | '>' | '<' | 'in' | 'notin'

interface Token {
  readonly kind: TokenKind
  readonly text: string
}

const SYMBOL_TOKENS: ReadonlySet<string> = new Set(['(', ')', ',', '!', '=', '==', '!=', '>', '<'])
const SPECIAL_CHARACTERS = '=!(),><'
const WHITESPACE = ' \t\r\n'
/** The binary operators as the parser lists them in its "expected:" message. */
const BINARY_OPERATORS = 'in, notin, =, ==, !=, gt, lt'

function tokenize(text: string): Token[] {
  const tokens: Token[] = []
  let position = 0
  for (;;) {
    while (position < text.length && WHITESPACE.includes(text[position] as string)) position++
    if (position >= text.length) {
      tokens.push({ kind: 'end', text: '' })
      return tokens
    }
    const start = position
    if (SPECIAL_CHARACTERS.includes(text[position] as string)) {
      // The longest run of special characters that is still a token: `!=` and `==` are one token,
      // `=(` is two.
      let end = position + 1
      while (end < text.length && SPECIAL_CHARACTERS.includes(text[end] as string) && SYMBOL_TOKENS.has(text.slice(start, end + 1))) end++
      const symbol = text.slice(start, end)
      tokens.push({ kind: symbol as TokenKind, text: symbol })
      position = end
    } else {
      while (position < text.length && !SPECIAL_CHARACTERS.includes(text[position] as string) && !WHITESPACE.includes(text[position] as string)) position++
      const word = text.slice(start, position)
      tokens.push({ kind: word === 'in' || word === 'notin' ? word : 'identifier', text: word })
    }
  }
}

/** Thrown inside the parser; becomes the BadRequest message. */
class SelectorSyntaxError extends Error {}

class LabelParser {
  private readonly tokens: Token[]
  private position = 0

  constructor(text: string) {
    this.tokens = tokenize(text)
  }

  parse(): LabelRequirement[] {
    try {
      return this.parseRequirements()
    } catch (error) {
      if (error instanceof SelectorSyntaxError) throw badRequest(error.message)
      throw error
    }
  }

  private parseRequirements(): LabelRequirement[] {
    const requirements: LabelRequirement[] = []
    for (;;) {
      const next = this.lookahead(true)
      if (next.kind === 'end') return requirements
      if (next.kind !== 'identifier' && next.kind !== '!') {
        throw new SelectorSyntaxError(`found '${next.text}', expected: !, identifier, or 'end of string'`)
      }
      try {
        requirements.push(this.parseRequirement())
      } catch (error) {
        if (error instanceof SelectorSyntaxError) throw new SelectorSyntaxError(`unable to parse requirement: ${error.message}`)
        throw error
      }
      const after = this.consume(true)
      if (after.kind === 'end') return requirements
      if (after.kind !== ',') throw new SelectorSyntaxError(`found '${after.text}', expected: ',' or 'end of string'`)
      const following = this.lookahead(true)
      if (following.kind !== 'identifier' && following.kind !== '!') {
        throw new SelectorSyntaxError(`found '${following.text}', expected: identifier after ','`)
      }
    }
  }

  private parseRequirement(): LabelRequirement {
    let negated = false
    let token = this.consume(true)
    if (token.kind === '!') {
      negated = true
      token = this.consume(true)
    }
    if (token.kind !== 'identifier') throw new SelectorSyntaxError(`found '${token.text}', expected: identifier`)
    const key = token.text
    const keyErrors = qualifiedNameErrors(key)
    if (keyErrors.length > 0) throw new SelectorSyntaxError(formatFieldError(fieldInvalid('<nil>', key, keyErrors.join('; '))))
    const next = this.lookahead(true).kind
    if (negated || next === 'end' || next === ',') {
      // `!key` and a bare `key` take no operator. (`!key=value` fails on the "=" that follows.)
      return this.requirement(key, negated ? '!' : 'exists', [])
    }
    const operator = this.parseOperator()
    const values = operator === 'in' || operator === 'notin' ? this.parseValueSet() : [this.parseExactValue()]
    return this.requirement(key, operator, values)
  }

  private requirement(key: string, operator: LabelOperator, values: string[]): LabelRequirement {
    const errors = requirementErrors(key, operator, values, '')
    if (errors.length > 0) throw new SelectorSyntaxError(aggregateMessage(errors.map(formatFieldError)))
    return { key, operator, values }
  }

  private parseOperator(): LabelOperator {
    const token = this.consume(false)
    switch (token.kind) {
      case 'in':
      case 'notin':
      case '=':
      case '==':
      case '!=':
        return token.kind
      case '>':
        return 'gt'
      case '<':
        return 'lt'
      default:
        throw new SelectorSyntaxError(`found '${token.text}', expected: ${BINARY_OPERATORS}`)
    }
  }

  /** `(a, b, , c)`: a set, so sorted and deduplicated; empty entries are the empty value. */
  private parseValueSet(): string[] {
    const open = this.consume(true)
    if (open.kind !== '(') throw new SelectorSyntaxError(`found '${open.text}' expected: '('`)
    const first = this.lookahead(true)
    if (first.kind === ')') {
      this.consume(true)
      return ['']
    }
    if (first.kind !== 'identifier' && first.kind !== ',') {
      throw new SelectorSyntaxError(`found '${first.text}', expected: ',', ')' or identifier`)
    }
    const values = new Set<string>()
    for (;;) {
      const token = this.consume(true)
      if (token.kind === 'identifier') {
        values.add(token.text)
        const next = this.lookahead(true)
        if (next.kind === ',') continue
        if (next.kind === ')') break
        throw new SelectorSyntaxError(`found '${next.text}', expected: ',' or ')'`)
      } else if (token.kind === ',') {
        // A comma with nothing before it, after it, or next to another comma stands for "".
        if (values.size === 0) values.add('')
        const next = this.lookahead(true)
        if (next.kind === ')') {
          values.add('')
          break
        }
        if (next.kind === ',') {
          this.consume(true)
          values.add('')
        }
      } else {
        throw new SelectorSyntaxError(`found '${token.text}', expected: ',', or identifier`)
      }
    }
    this.consume(true)
    return [...values].sort()
  }

  private parseExactValue(): string {
    const next = this.lookahead(true)
    if (next.kind === 'end' || next.kind === ',') return ''
    const token = this.consume(true)
    if (token.kind === 'identifier') return token.text
    throw new SelectorSyntaxError(`found '${token.text}', expected: identifier`)
  }

  /** The next token; where a value may stand, `in` and `notin` are plain identifiers. */
  private lookahead(valueContext: boolean): Token {
    return this.asContext(this.tokens[this.position] ?? END, valueContext)
  }

  private consume(valueContext: boolean): Token {
    const token = this.tokens[this.position] ?? END
    if (this.position < this.tokens.length - 1) this.position++
    return this.asContext(token, valueContext)
  }

  private asContext(token: Token, valueContext: boolean): Token {
    return valueContext && (token.kind === 'in' || token.kind === 'notin') ? { kind: 'identifier', text: token.text } : token
  }
}

const END: Token = { kind: 'end', text: '' }

// ---------------------------------------------------------------------------------------------
// Field selectors.

/** One `field=value` or `field!=value` term. */
export interface FieldRequirement {
  readonly field: string
  readonly operator: '=' | '!='
  readonly value: string
}

/** A parsed field selector: the AND of its terms. */
export interface FieldSelector {
  readonly requirements: readonly FieldRequirement[]
  /** True when every term holds for the object (fields are read by dotted path, see fieldValue). */
  matches(object: unknown): boolean
  isEmpty(): boolean
  /** The value a field must have for any object to match (`metadata.name=web`), if any. */
  requiresExactMatch(field: string): string | undefined
  toString(): string
}

/** Decides whether a resource supports selecting on a field label. */
export type FieldLabelFilter = (label: string) => boolean

/**
 * The filter for a resource that supports `metadata.name`, `metadata.namespace` (every resource
 * does) and the given extra labels, e.g. `['spec.nodeName', 'status.phase']` for pods.
 */
export function allowFieldLabels(extra: readonly string[] = []): FieldLabelFilter {
  const allowed = new Set(['metadata.name', 'metadata.namespace', ...extra])
  return (label) => allowed.has(label)
}

/**
 * Parses the `fieldSelector` query parameter. Empty text selects everything.
 * @throws ApiError BadRequest for a term without an operator, a bad escape, or a field label the
 *   resource does not support (`field label not supported: spec.foo`).
 */
export function parseFieldSelector(text: string, isSupported: FieldLabelFilter): FieldSelector {
  const requirements: FieldRequirement[] = []
  for (const term of splitFieldTerms(text).sort()) {
    if (term === '') continue
    const split = splitFieldTerm(term)
    if (split === undefined) throw badRequest(`invalid selector: '${text}'; can't understand '${term}'`)
    requirements.push({ field: split.field, operator: split.operator === '!=' ? '!=' : '=', value: unescapeFieldValue(split.value) })
  }
  for (const { field } of requirements) {
    if (!isSupported(field)) throw badRequest(`field label not supported: ${field}`)
  }
  return {
    requirements,
    matches: (object) => requirements.every(({ field, operator, value }) => (fieldValue(object, field) === value) === (operator === '=')),
    isEmpty: () => requirements.length === 0,
    requiresExactMatch: (field) => requirements.find((term) => term.field === field && term.operator === '=')?.value,
    toString: () => requirements.map(({ field, operator, value }) => `${field}${operator}${escapeFieldValue(value)}`).join(','),
  }
}

/**
 * The string value of a field label on an object: `spec.nodeName` reads object.spec.nodeName.
 * Numbers and booleans are stringified; a missing field (or an object or list) reads as `''`, as
 * in Kubernetes' field sets, so `spec.nodeName=` selects unscheduled pods.
 */
export function fieldValue(object: unknown, dottedPath: string): string {
  let current: unknown = object
  for (const segment of dottedPath.split('.')) {
    if (typeof current !== 'object' || current === null || Array.isArray(current)) return ''
    current = (current as Record<string, unknown>)[segment]
  }
  return typeof current === 'string' || typeof current === 'number' || typeof current === 'boolean' ? String(current) : ''
}

/** Splits on commas that are not escaped with a backslash (escapes are kept for unescaping). */
function splitFieldTerms(text: string): string[] {
  if (text === '') return []
  const terms: string[] = []
  let start = 0
  let escaped = false
  for (let index = 0; index < text.length; index++) {
    const character = text[index]
    if (escaped) escaped = false
    else if (character === '\\') escaped = true
    else if (character === ',') {
      terms.push(text.slice(start, index))
      start = index + 1
    }
  }
  terms.push(text.slice(start))
  return terms
}

/** The first operator in the term splits it; `!=` and `==` win over `=` at the same position. */
function splitFieldTerm(term: string): { field: string; operator: string; value: string } | undefined {
  for (let index = 0; index < term.length; index++) {
    for (const operator of ['!=', '==', '=']) {
      if (term.startsWith(operator, index)) return { field: term.slice(0, index), operator, value: term.slice(index + operator.length) }
    }
  }
  return undefined
}

function unescapeFieldValue(value: string): string {
  if (!/[\\,=]/.test(value)) return value
  let result = ''
  let escaped = false
  for (const character of value) {
    if (escaped) {
      if (character !== '\\' && character !== ',' && character !== '=') {
        throw badRequest(`invalid field selector: invalid escape sequence: \\${character}`)
      }
      result += character
      escaped = false
    } else if (character === '\\') {
      escaped = true
    } else if (character === ',' || character === '=') {
      throw badRequest(`invalid field selector: unescaped character in value: ${character.codePointAt(0)}`)
    } else {
      result += character
    }
  }
  if (escaped) throw badRequest('invalid field selector: invalid escape sequence: \\')
  return result
}

function escapeFieldValue(value: string): string {
  return value.replace(/[\\,=]/g, (character) => `\\${character}`)
}
