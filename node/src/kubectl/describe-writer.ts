/**
 * The text layout of `describe`, after kubectl's PrefixWriter: lines indented two spaces per
 * level, `Key:\tvalue` cells aligned by the tab writer (padding 2), and `flush` points that end an
 * alignment section (kubectl flushes before the Events table so it is aligned on its own).
 */
import { alignTabs, DESCRIBE_LAYOUT } from './tab-writer.ts'

/** Annotation lines longer than this are cut with `...`, as kubectl cuts them. */
const ANNOTATION_LINE_MAX = 140
/** Annotations describe never prints (they repeat the whole object). */
const HIDDEN_ANNOTATIONS = new Set(['kubectl.kubernetes.io/last-applied-configuration'])

export class DescribeWriter {
  private done = ''
  private pending = ''

  /** Writes `text` (tabs separate cells) at an indentation level, then a newline. */
  line(level: number, text: string): void {
    this.pending += `${'  '.repeat(level)}${text}\n`
  }

  /** `Key:\tvalue`. */
  field(level: number, key: string, value: string | number): void {
    this.line(level, `${key}:\t${value}`)
  }

  /** `Labels:\ta=b` and one `\tc=d` line per further label, sorted; `<none>` when empty. */
  labels(title: string, labels: Readonly<Record<string, string>>): void {
    const keys = Object.keys(labels).sort()
    if (keys.length === 0) {
      this.pending += `${title}:\t<none>\n`
      return
    }
    keys.forEach((key, index) => {
      this.pending += `${index === 0 ? `${title}:` : ''}\t${key}=${labels[key]}\n`
    })
  }

  /** `Annotations:\tkey: value` lines like labels, long values cut, last-applied left out. */
  annotations(title: string, annotations: Readonly<Record<string, string>>): void {
    const keys = Object.keys(annotations).filter((key) => !HIDDEN_ANNOTATIONS.has(key)).sort()
    if (keys.length === 0) {
      this.pending += `${title}:\t<none>\n`
      return
    }
    keys.forEach((key, index) => {
      const line = `${key}: ${annotations[key]}`.replaceAll('\n', ' ')
      const shown = line.length > ANNOTATION_LINE_MAX ? `${line.slice(0, ANNOTATION_LINE_MAX)}...` : line
      this.pending += `${index === 0 ? `${title}:` : ''}\t${shown}\n`
    })
  }

  /** Ends an alignment section. */
  flush(): void {
    this.done += alignTabs(this.pending, DESCRIBE_LAYOUT)
    this.pending = ''
  }

  /** Everything written, aligned. */
  toString(): string {
    this.flush()
    return this.done
  }
}

/** `Mon, 02 Jan 2006 15:04:05 +0000` (Go's RFC1123Z, in UTC), or `<unknown>`. */
export function rfc1123z(iso: string): string {
  const date = new Date(iso)
  if (iso === '' || Number.isNaN(date.getTime())) return '<unknown>'
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat']
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']
  const two = (value: number): string => String(value).padStart(2, '0')
  return `${days[date.getUTCDay()]}, ${two(date.getUTCDate())} ${months[date.getUTCMonth()]} ${date.getUTCFullYear()} ${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} +0000`
}
