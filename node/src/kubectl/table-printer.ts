/**
 * Printing server-side Tables (`meta.k8s.io/v1 Table`) the way `kubectl get` prints them: header
 * in capitals, columns aligned by the tab writer with kubectl's settings, priority > 0 columns
 * only with `-o wide`, a NAMESPACE column first with `--all-namespaces`, a LABELS column last with
 * `--show-labels`, and names prefixed with `kind.group/` when several types share the output.
 *
 * A server that ignores the Table request answers a plain object or List; tableFromResponse turns
 * that into the NAME/AGE table kubectl shows in that case.
 */
import { isJsonObject, type JsonObject } from '../api/machinery/canonical.ts'
import { humanDuration } from './duration.ts'
import { formatLabels, listAt, nameOf, stringAt, stringMapAt } from './object-fields.ts'
import { displayWidth, TABLE_LAYOUT } from './tab-writer.ts'

/** The Accept header of `kubectl get`: a Table, or plain JSON from servers without tables. */
export const TABLE_ACCEPT = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json'

/** One column of a server Table. */
export interface TableColumn {
  readonly name: string
  /** `name` marks the column that holds the object name. */
  readonly format: string
  /** 0: always shown; more: only with `-o wide`. */
  readonly priority: number
}

/** One row: its cells and the object (PartialObjectMetadata) it came from. */
export interface TableRow {
  readonly cells: readonly unknown[]
  readonly object: JsonObject | undefined
}

/** A server Table reduced to what printing needs. */
export interface Table {
  readonly columns: readonly TableColumn[]
  readonly rows: readonly TableRow[]
  readonly resourceVersion: string
}

/** How a table is printed. */
export interface TablePrintOptions {
  readonly wide: boolean
  readonly withNamespace: boolean
  readonly showLabels: boolean
  readonly noHeaders: boolean
  /** `deployment.apps/` when several types are printed together. */
  readonly namePrefix: string
}

export const DEFAULT_TABLE_OPTIONS: TablePrintOptions = { wide: false, withNamespace: false, showLabels: false, noHeaders: false, namePrefix: '' }

/**
 * The Table in a response body; a plain object or List becomes a NAME/AGE table (the columns
 * kubectl falls back to), aged against `nowMs`.
 */
export function tableFromResponse(body: JsonObject, nowMs: number): Table {
  if (body['kind'] === 'Table') {
    const columns = listAt(body, 'columnDefinitions').filter(isJsonObject).map((column) => ({
      name: stringAt(column, ['name']),
      format: stringAt(column, ['format']),
      priority: typeof column['priority'] === 'number' ? column['priority'] : 0,
    }))
    const rows = listAt(body, 'rows').filter(isJsonObject).map((row) => ({ cells: listAt(row, 'cells'), object: isJsonObject(row['object']) ? row['object'] : undefined }))
    return { columns, rows, resourceVersion: stringAt(body, ['metadata', 'resourceVersion']) }
  }
  const items = Array.isArray(body['items']) ? body['items'].filter(isJsonObject) : [body]
  return {
    columns: [
      { name: 'Name', format: 'name', priority: 0 },
      { name: 'Age', format: '', priority: 0 },
    ],
    rows: items.map((item) => {
      const created = Date.parse(stringAt(item, ['metadata', 'creationTimestamp']))
      return { cells: [nameOf(item), Number.isFinite(created) ? humanDuration(nowMs - created) : '<unknown>'], object: item }
    }),
    resourceVersion: stringAt(body, ['metadata', 'resourceVersion']),
  }
}

/** The printed cells of a table: the header line (unless noHeaders) and one line per row. */
export function tableCells(table: Table, options: TablePrintOptions): string[][] {
  const shown = table.columns.map((column, index) => ({ column, index })).filter(({ column }) => options.wide || column.priority === 0)
  const nameIndex = Math.max(0, table.columns.findIndex((column) => column.format === 'name'))
  const lines: string[][] = []
  if (!options.noHeaders) {
    lines.push([...(options.withNamespace ? ['NAMESPACE'] : []), ...shown.map(({ column }) => column.name.toUpperCase()), ...(options.showLabels ? ['LABELS'] : [])])
  }
  for (const row of table.rows) {
    const cells = shown.map(({ index }) => {
      const text = cellText(row.cells[index])
      return index === nameIndex ? `${options.namePrefix}${text}` : text
    })
    lines.push([
      ...(options.withNamespace ? [stringAt(row.object, ['metadata', 'namespace'])] : []),
      ...cells,
      ...(options.showLabels ? [formatLabels(stringMapAt(row.object, 'metadata', 'labels'))] : []),
    ])
  }
  return lines
}

/** A table as aligned text, one line per row, each ending with a newline. */
export function renderTable(table: Table, options: TablePrintOptions): string {
  const lines = tableCells(table, options)
  const widths = columnWidths(lines)
  return lines.map((cells) => `${padCells(cells, widths)}\n`).join('')
}

/**
 * The width of each column (but the last, which is not padded) for these lines: the widest cell
 * plus kubectl's padding, at least its minimum width.
 */
export function columnWidths(lines: readonly (readonly string[])[], previous: readonly number[] = []): number[] {
  const widths = [...previous]
  for (const cells of lines) {
    for (let column = 0; column < cells.length - 1; column += 1) {
      widths[column] = Math.max(widths[column] ?? TABLE_LAYOUT.minWidth, displayWidth(cells[column]!) + TABLE_LAYOUT.padding)
    }
  }
  return widths
}

/** One line of cells padded to `widths` (the last cell unpadded). */
export function padCells(cells: readonly string[], widths: readonly number[]): string {
  return cells.map((cell, column) => (column === cells.length - 1 ? cell : cell + ' '.repeat(Math.max(0, (widths[column] ?? 0) - displayWidth(cell))))).join('')
}

/** A cell value as text, as kubectl's `%v` prints it (null as `<none>`). */
export function cellText(value: unknown): string {
  if (value === null || value === undefined) return '<none>'
  if (typeof value === 'string') return value
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  return JSON.stringify(value)
}
