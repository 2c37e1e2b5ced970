/**
 * Column alignment as Go's text/tabwriter does it, because kubectl prints every table and every
 * `describe` through one and users read (and scripts cut) that layout:
 *
 * - input is text whose cells end with a tab; the text after a line's last tab is not aligned;
 * - a column block is a run of consecutive lines that all have a cell in that column, and every
 *   cell of a block is padded to the block's widest cell plus `padding` (at least `minWidth`);
 * - blocks nest: a line with fewer cells ends the blocks of the columns it lacks.
 *
 * kubectl's settings: tables `{ minWidth: 6, padding: 3 }` (printers.GetNewTabWriter), describe
 * and rollout history `{ minWidth: 0, padding: 2 }` (describe.tabbedString).
 */

/** How cells are padded. */
export interface TabWriterOptions {
  /** The narrowest a column may be, padding included. */
  readonly minWidth: number
  /** Spaces added to the widest cell of a column block. */
  readonly padding: number
}

export const TABLE_LAYOUT: TabWriterOptions = { minWidth: 6, padding: 3 }
export const DESCRIBE_LAYOUT: TabWriterOptions = { minWidth: 0, padding: 2 }

/** Aligns tab-separated text (lines end with `\n`); returns it with the tabs turned into spaces. */
export function alignTabs(text: string, options: TabWriterOptions): string {
  const endsWithNewline = text.endsWith('\n')
  const lines = (endsWithNewline ? text.slice(0, -1) : text).split('\n').map((line) => line.split('\t'))
  const output: string[] = []
  formatBlock(lines, 0, lines.length, [], options, output)
  return output.join('\n') + (endsWithNewline ? '\n' : '')
}

/** The display width of a cell: code points, not UTF-16 units (so `µ` and `é` count once). */
export function displayWidth(text: string): number {
  let width = 0
  for (const _ of text) width += 1
  return width
}

/** Go's tabwriter `format`: finds column blocks in lines [from, to) at depth `widths.length`. */
function formatBlock(lines: readonly string[][], from: number, to: number, widths: number[], options: TabWriterOptions, output: string[]): void {
  const column = widths.length
  let start = from
  for (let current = from; current < to; current += 1) {
    // A line takes part in this column when it has a tab-terminated cell there.
    if (column >= lines[current]!.length - 1) continue
    writeLines(lines, start, current, widths, output)
    start = current
    let width = options.minWidth
    for (; current < to; current += 1) {
      const line = lines[current]!
      if (column >= line.length - 1) break
      width = Math.max(width, displayWidth(line[column]!) + options.padding)
    }
    widths.push(width)
    formatBlock(lines, start, current, widths, options, output)
    widths.pop()
    start = current
    current -= 1
  }
  writeLines(lines, start, to, widths, output)
}

function writeLines(lines: readonly string[][], from: number, to: number, widths: readonly number[], output: string[]): void {
  for (let index = from; index < to; index += 1) {
    const cells = lines[index]!
    let text = ''
    for (let column = 0; column < cells.length; column += 1) {
      const cell = cells[column]!
      if (column < cells.length - 1) {
        const width = widths[column] ?? 0
        text += cell + ' '.repeat(Math.max(0, width - displayWidth(cell)))
      } else {
        text += cell
      }
    }
    output.push(text)
  }
}
