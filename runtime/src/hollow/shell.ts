/**
 * The slice of POSIX sh that hollow containers understand (pure parsing; hollow/process.ts runs
 * the result). Enough for the commands pods and probes use in tests: lists with `;`, `&&`, `||`
 * and newlines, quoting, `$NAME`/`${NAME}`/`${NAME:-default}`/`$?`/`$1`, assignments, and the
 * redirections `>`, `>>`, `<`, `>&2`, `2>&1`, `2>/dev/null`.
 *
 * Anything beyond that (loops, conditionals, pipes, background jobs, command substitution, here
 * documents) is not interpreted: from the first such construct on, the script is *opaque* and the
 * process simply runs until it is stopped, which is what such scripts do in practice (`while true;
 * do …; done`, `sleep 1000 & wait`). An opaque loop without `sleep` in it counts as busy for CPU
 * statistics.
 */

/** A piece of a word: literal text, or a parameter to expand. */
export type WordPart =
  | { readonly kind: 'literal'; readonly text: string }
  | { readonly kind: 'parameter'; readonly name: string; readonly fallback?: string }

export type Word = readonly WordPart[]

export interface Redirect {
  /** The descriptor redirected: 0 stdin, 1 stdout, 2 stderr. */
  readonly fd: number
  /** `>` truncates, `>>` appends, `<` reads, `>&` duplicates onto `target` (a descriptor number). */
  readonly operator: '>' | '>>' | '<' | '>&'
  readonly target: Word
}

export interface SimpleCommand {
  readonly kind: 'simple'
  readonly assignments: readonly { readonly name: string; readonly value: Word }[]
  readonly words: readonly Word[]
  readonly redirects: readonly Redirect[]
}

/** The rest of a script the interpreter does not model: it runs until stopped. */
export interface OpaqueCommand {
  readonly kind: 'opaque'
  readonly text: string
  /** A loop that never sleeps: the simulated process burns a whole core. */
  readonly busy: boolean
}

export type Statement = SimpleCommand | OpaqueCommand

/** Statements joined by `&&`/`||`: `then` runs always, `and` after success, `or` after failure. */
export interface AndOrList {
  readonly items: readonly { readonly connector: 'then' | 'and' | 'or'; readonly statement: Statement }[]
}

export type Script = readonly AndOrList[]

type Token =
  | { readonly kind: 'word'; readonly word: Word; readonly raw: string; readonly start: number }
  | { readonly kind: 'operator'; readonly operator: string; readonly start: number }
  | { readonly kind: 'redirect'; readonly fd: number; readonly operator: Redirect['operator']; readonly start: number }
  | { readonly kind: 'unsupported'; readonly start: number }

const COMPOUND_KEYWORDS = new Set(['while', 'until', 'for', 'if', 'case', 'select', 'function', '{', '}', '!'])
const LOOP_KEYWORDS = new Set(['while', 'until', 'for'])
const NAME = /^[A-Za-z_][A-Za-z0-9_]*/
const ASSIGNMENT = /^([A-Za-z_][A-Za-z0-9_]*)=/

/** A literal word (argv given directly, not through `sh -c`). */
export function literalWord(text: string): Word {
  return [{ kind: 'literal', text }]
}

/** A script of one command whose words are taken literally (a container's argv). */
export function scriptFromArgv(argv: readonly string[]): Script {
  if (argv.length === 0) return []
  const command: SimpleCommand = { kind: 'simple', assignments: [], words: argv.map(literalWord), redirects: [] }
  return [{ items: [{ connector: 'then', statement: command }] }]
}

/** Parses shell text into and-or lists; never throws (what it cannot read becomes opaque). */
export function parseShell(text: string): Script {
  const tokens = tokenize(text)
  const lists: AndOrList[] = []
  let items: { connector: 'then' | 'and' | 'or'; statement: Statement }[] = []
  let connector: 'then' | 'and' | 'or' = 'then'
  let index = 0
  const finishList = (): void => {
    if (items.length > 0) lists.push({ items })
    items = []
    connector = 'then'
  }
  while (index < tokens.length) {
    const token = tokens[index] as Token
    if (token.kind === 'operator' && (token.operator === ';' || token.operator === '\n')) {
      finishList()
      index++
      continue
    }
    if (token.kind === 'operator' && (token.operator === '&&' || token.operator === '||')) {
      connector = token.operator === '&&' ? 'and' : 'or'
      index++
      continue
    }
    const parsed = parseSimpleCommand(tokens, index)
    if (parsed === undefined) {
      const rest = text.slice(token.start)
      items.push({ connector, statement: { kind: 'opaque', text: rest, busy: isBusyLoop(tokens.slice(index)) } })
      break
    }
    items.push({ connector, statement: parsed.command })
    index = parsed.next
  }
  finishList()
  return lists
}

/**
 * A simple command starting at `index`, or undefined when the statement there is beyond the
 * modelled subset (then the caller makes the rest of the script opaque).
 */
function parseSimpleCommand(tokens: readonly Token[], index: number): { command: SimpleCommand; next: number } | undefined {
  const assignments: { name: string; value: Word }[] = []
  const words: Word[] = []
  const redirects: Redirect[] = []
  let position = index
  for (; position < tokens.length; position++) {
    const token = tokens[position] as Token
    if (token.kind === 'unsupported') return undefined
    if (token.kind === 'operator') {
      if (token.operator === ';' || token.operator === '\n' || token.operator === '&&' || token.operator === '||') break
      return undefined // pipes, background jobs, subshells
    }
    if (token.kind === 'redirect') {
      const target = tokens[position + 1]
      if (target === undefined || target.kind !== 'word') return undefined
      redirects.push({ fd: token.fd, operator: token.operator, target: target.word })
      position++
      continue
    }
    if (words.length === 0) {
      if (COMPOUND_KEYWORDS.has(token.raw)) return undefined
      const assignment = ASSIGNMENT.exec(token.raw)
      if (assignment !== null) {
        assignments.push({ name: assignment[1] as string, value: dropPrefix(token.word, assignment[0].length) })
        continue
      }
    }
    words.push(token.word)
  }
  if (words.length === 0 && assignments.length === 0 && redirects.length === 0) return undefined
  return { command: { kind: 'simple', assignments, words, redirects }, next: position }
}

/** The word without its first `count` literal characters (the `NAME=` of an assignment). */
function dropPrefix(word: Word, count: number): Word {
  const parts: WordPart[] = []
  let remaining = count
  for (const part of word) {
    if (remaining > 0 && part.kind === 'literal') {
      const cut = Math.min(remaining, part.text.length)
      remaining -= cut
      if (cut < part.text.length) parts.push({ kind: 'literal', text: part.text.slice(cut) })
      continue
    }
    parts.push(part)
  }
  return parts
}

function isBusyLoop(tokens: readonly Token[]): boolean {
  const raws = tokens.flatMap((token) => (token.kind === 'word' ? [token.raw] : []))
  return raws.some((raw) => LOOP_KEYWORDS.has(raw)) && !raws.some((raw) => raw === 'sleep' || raw.endsWith('/sleep') || raw === 'read' || raw === 'wait')
}

// ---------------------------------------------------------------------------------------------
// Tokenizer

function tokenize(text: string): Token[] {
  const tokens: Token[] = []
  let index = 0
  while (index < text.length) {
    const char = text[index] as string
    if (char === ' ' || char === '\t' || char === '\r') {
      index++
      continue
    }
    if (char === '\\' && text[index + 1] === '\n') {
      index += 2
      continue
    }
    if (char === '#') {
      while (index < text.length && text[index] !== '\n') index++
      continue
    }
    const operator = operatorAt(text, index)
    if (operator !== undefined) {
      tokens.push(operator.token)
      index = operator.next
      continue
    }
    const word = readWord(text, index)
    tokens.push(word.token)
    index = word.next
  }
  return tokens
}

function operatorAt(text: string, index: number): { token: Token; next: number } | undefined {
  const rest = text.slice(index)
  const redirect = /^(\d?)(>>|>&|>|<<|<&|<)/.exec(rest)
  if (redirect !== null) {
    const symbol = redirect[2] as string
    if (symbol === '<<' || symbol === '<&') return { token: { kind: 'unsupported', start: index }, next: index + redirect[0].length }
    const fd = redirect[1] === '' ? (symbol === '<' ? 0 : 1) : Number(redirect[1])
    return { token: { kind: 'redirect', fd, operator: symbol as Redirect['operator'], start: index }, next: index + redirect[0].length }
  }
  for (const candidate of ['&&', '||', ';;', ';', '\n', '|', '&', '(', ')']) {
    if (rest.startsWith(candidate)) return { token: { kind: 'operator', operator: candidate, start: index }, next: index + candidate.length }
  }
  return undefined
}

/** Reads one word: quotes, escapes and expansions, up to an unquoted blank or operator. */
function readWord(text: string, start: number): { token: Token; next: number } {
  const parts: WordPart[] = []
  let literal = ''
  let index = start
  let unsupported = false
  const flush = (): void => {
    if (literal !== '') parts.push({ kind: 'literal', text: literal })
    literal = ''
  }
  const expand = (): void => {
    const parameter = readParameter(text, index)
    if (parameter === undefined) {
      literal += '$'
      index++
      return
    }
    if (parameter.part === undefined) unsupported = true
    else {
      flush()
      parts.push(parameter.part)
    }
    index = parameter.next
  }
  while (index < text.length) {
    const char = text[index] as string
    if (' \t\r\n;&|()<>'.includes(char)) break
    if (char === '`') {
      unsupported = true
      index++
    } else if (char === '\\') {
      literal += text[index + 1] ?? ''
      index += 2
    } else if (char === "'") {
      const end = text.indexOf("'", index + 1)
      const stop = end < 0 ? text.length : end
      literal += text.slice(index + 1, stop)
      index = stop + 1
    } else if (char === '"') {
      index++
      while (index < text.length && text[index] !== '"') {
        const inner = text[index] as string
        if (inner === '\\' && '$`"\\\n'.includes(text[index + 1] ?? '')) {
          literal += text[index + 1] as string
          index += 2
        } else if (inner === '$') expand()
        else if (inner === '`') {
          unsupported = true
          index++
        } else {
          literal += inner
          index++
        }
      }
      index++
    } else if (char === '$') expand()
    else {
      literal += char
      index++
    }
  }
  flush()
  if (unsupported) return { token: { kind: 'unsupported', start }, next: index }
  return { token: { kind: 'word', word: parts, raw: text.slice(start, index), start }, next: index }
}

/**
 * A parameter expansion at `index` (which holds `$`): the part, or `part: undefined` for forms
 * the interpreter does not model (`$(…)`, `${#X}`, `${X%y}`), or undefined for a lone `$`.
 */
function readParameter(text: string, index: number): { part: WordPart | undefined; next: number } | undefined {
  const next = text[index + 1]
  if (next === undefined) return undefined
  if (next === '(') return { part: undefined, next: closingParen(text, index + 1) }
  if (next === '{') {
    const end = text.indexOf('}', index + 2)
    if (end < 0) return { part: undefined, next: text.length }
    const body = text.slice(index + 2, end)
    const simple = /^([A-Za-z_][A-Za-z0-9_]*|[0-9?#@*$])(?::-(.*))?$/s.exec(body)
    if (simple === null) return { part: undefined, next: end + 1 }
    const part: WordPart = simple[2] === undefined ? { kind: 'parameter', name: simple[1] as string } : { kind: 'parameter', name: simple[1] as string, fallback: simple[2] }
    return { part, next: end + 1 }
  }
  if ('?#@*$0123456789'.includes(next)) return { part: { kind: 'parameter', name: next }, next: index + 2 }
  const name = NAME.exec(text.slice(index + 1))
  if (name === null) return undefined
  return { part: { kind: 'parameter', name: name[0] }, next: index + 1 + name[0].length }
}

function closingParen(text: string, open: number): number {
  let depth = 0
  for (let index = open; index < text.length; index++) {
    if (text[index] === '(') depth++
    else if (text[index] === ')' && --depth === 0) return index + 1
  }
  return text.length
}
