/**
 * `flotilla get`: tables like `kubectl get` (server-side printing), `-o wide|yaml|json|name`,
 * selectors, all namespaces, and `-w` to follow changes.
 *
 *   flotilla get <type>[,<type>…] [name…] | <type>/<name>…
 *       [-n ns | -A] [-l selector] [--field-selector s] [-o wide|yaml|json|name] [-w]
 *       [--show-labels] [--no-headers] [--ignore-not-found]
 */
import { isJsonObject, type JsonObject } from '../api/machinery/canonical.ts'
import type { FlagSpec, ParsedArguments } from './arguments.ts'
import type { CommandContext } from './command-context.ts'
import { CommandError, KubectlUsageError, ServerError, formatError } from './errors.ts'
import { formatName, formatObject, listOf, withTypeMeta } from './object-printer.ts'
import { nameOf, stringAt } from './object-fields.ts'
import { kindPrefix, resourcePath, type ApiResource } from './resource-catalog.ts'
import { columnWidths, padCells, renderTable, tableCells, tableFromResponse, TABLE_ACCEPT, type Table, type TablePrintOptions } from './table-printer.ts'
import { resolveTargets, type Target } from './targets.ts'
import { followWatch } from './watch-events.ts'

export const GET_FLAGS: readonly FlagSpec[] = [
  { name: 'output', short: 'o', type: 'string' },
  { name: 'selector', short: 'l', type: 'string' },
  { name: 'field-selector', type: 'string' },
  { name: 'all-namespaces', short: 'A', type: 'boolean' },
  { name: 'watch', short: 'w', type: 'boolean' },
  { name: 'show-labels', type: 'boolean' },
  { name: 'no-headers', type: 'boolean' },
  { name: 'ignore-not-found', type: 'boolean' },
]

type OutputMode = 'table' | 'wide' | 'yaml' | 'json' | 'name'

/** What one target produced: its rows (or objects) and the errors of names that failed. */
interface Fetched {
  readonly target: Target
  readonly table: Table | undefined
  readonly objects: JsonObject[]
}

/** Runs `get`; returns the exit code. */
export async function runGet(context: CommandContext, args: ParsedArguments): Promise<number> {
  const mode = outputMode(args.string('output'))
  const allNamespaces = args.boolean('all-namespaces')
  const catalog = await context.catalog()
  const targets = resolveTargets(args.positionals, catalog)
  if (allNamespaces && targets.some((target) => target.names.length > 0)) throw new CommandError('a resource cannot be retrieved by name across all namespaces')
  if (args.boolean('watch')) return watchGet(context, args, targets, mode)
  const errors: unknown[] = []
  const fetched: Fetched[] = []
  for (const target of targets) fetched.push(await fetchTarget(context, args, target, mode, errors))
  const io = context.io
  if (mode === 'yaml' || mode === 'json') {
    const objects = fetched.flatMap((entry) => entry.objects)
    const single = targets.length === 1 && targets[0]!.names.length === 1
    if (objects.length > 0 || !single) io.write(formatObject(single && objects.length === 1 ? objects[0]! : listOf(objects), mode))
  } else if (mode === 'name') {
    for (const entry of fetched) for (const object of entry.objects) io.write(`${formatName(entry.target.resource, object)}\n`)
  } else {
    printTables(context, args, fetched, mode === 'wide', allNamespaces)
  }
  const printed = fetched.some((entry) => entry.objects.length > 0 || (entry.table?.rows.length ?? 0) > 0)
  if (!printed && errors.length === 0 && mode !== 'yaml' && mode !== 'json' && !args.boolean('ignore-not-found')) {
    const namespaced = targets.every((target) => target.resource.namespaced)
    io.error(namespaced && !allNamespaces ? `No resources found in ${context.namespace} namespace.\n` : 'No resources found\n')
  }
  for (const error of errors) io.error(`${formatError(error)}\n`)
  return errors.length > 0 ? 1 : 0
}

function outputMode(text: string | undefined): OutputMode {
  if (text === undefined || text === '') return 'table'
  if (text === 'wide' || text === 'yaml' || text === 'json' || text === 'name') return text
  throw new KubectlUsageError(`unable to match a printer suitable for the output format "${text}", allowed formats are: json,name,wide,yaml`)
}

/** The list query of the selectors flags. */
export function selectorQuery(args: ParsedArguments): Record<string, string | undefined> {
  return { labelSelector: args.string('selector'), fieldSelector: args.string('field-selector') }
}

function namespaceFor(context: CommandContext, resource: ApiResource, allNamespaces: boolean): string | undefined {
  return resource.namespaced && !allNamespaces ? context.namespace : undefined
}

/** Lists a target, or gets each of its names; failed names go to `errors`. */
async function fetchTarget(context: CommandContext, args: ParsedArguments, target: Target, mode: OutputMode, errors: unknown[]): Promise<Fetched> {
  const { resource } = target
  const namespace = namespaceFor(context, resource, args.boolean('all-namespaces'))
  const wantsTable = mode === 'table' || mode === 'wide'
  const accept = wantsTable ? TABLE_ACCEPT : 'application/json'
  const nowMs = context.io.nowMs()
  if (target.names.length === 0) {
    const body = await context.client.json({ method: 'GET', path: resourcePath(resource, namespace), query: selectorQuery(args), accept })
    if (wantsTable) return { target, table: tableFromResponse(body, nowMs), objects: [] }
    const items = Array.isArray(body['items']) ? body['items'].filter(isJsonObject) : []
    return { target, table: undefined, objects: items.map((item) => withTypeMeta(item, resource)) }
  }
  const tables: Table[] = []
  const objects: JsonObject[] = []
  for (const name of target.names) {
    try {
      const body = await context.client.json({ method: 'GET', path: resourcePath(resource, namespace, name), accept })
      if (wantsTable) tables.push(tableFromResponse(body, nowMs))
      else objects.push(withTypeMeta(body, resource))
    } catch (error) {
      if (error instanceof ServerError && error.code === 404 && args.boolean('ignore-not-found')) continue
      if (!(error instanceof ServerError)) throw error
      errors.push(error)
    }
  }
  const first = tables[0]
  const table = first === undefined ? undefined : { columns: first.columns, rows: tables.flatMap((table) => table.rows), resourceVersion: first.resourceVersion }
  return { target, table, objects }
}

function tableOptions(args: ParsedArguments, wide: boolean, withNamespace: boolean, namePrefix: string): TablePrintOptions {
  return { wide, withNamespace, showLabels: args.boolean('show-labels'), noHeaders: args.boolean('no-headers'), namePrefix }
}

/** One table per type, separated by blank lines, names prefixed when several types are shown. */
function printTables(context: CommandContext, args: ParsedArguments, fetched: readonly Fetched[], wide: boolean, allNamespaces: boolean): void {
  const several = fetched.length > 1
  let first = true
  for (const { target, table } of fetched) {
    if (table === undefined || table.rows.length === 0) continue
    if (!first) context.io.write('\n')
    first = false
    const prefix = several ? `${kindPrefix(target.resource)}/` : ''
    context.io.write(renderTable(table, tableOptions(args, wide, allNamespaces && target.resource.namespaced, prefix)))
  }
}

/**
 * `get -w`: the current list, then every change, until interrupted. Tables keep the column
 * widths of what was already printed (growing them when a wider cell arrives).
 */
async function watchGet(context: CommandContext, args: ParsedArguments, targets: readonly Target[], mode: OutputMode): Promise<number> {
  const target = targets[0]
  if (targets.length !== 1 || target === undefined || target.names.length > 1) {
    throw new CommandError(`watch is only supported on individual resources and resource collections, but ${targets.length === 1 ? target!.names.length : targets.length} resources were found`)
  }
  const { resource } = target
  const allNamespaces = args.boolean('all-namespaces')
  const namespace = namespaceFor(context, resource, allNamespaces)
  const nameSelector = target.names[0] === undefined ? undefined : `metadata.name=${target.names[0]}`
  const fieldSelector = [args.string('field-selector'), nameSelector].filter((part) => part !== undefined && part !== '').join(',')
  const query = { labelSelector: args.string('selector'), fieldSelector: fieldSelector === '' ? undefined : fieldSelector }
  const path = resourcePath(resource, namespace)
  const wantsTable = mode === 'table' || mode === 'wide'
  const accept = wantsTable ? TABLE_ACCEPT : 'application/json'
  const initial = await context.client.json({ method: 'GET', path, query, accept })
  const io = context.io
  if (!wantsTable) {
    const items = Array.isArray(initial['items']) ? initial['items'].filter(isJsonObject) : []
    const print = (object: JsonObject): void => io.write(mode === 'name' ? `${formatName(resource, object)}\n` : mode === 'yaml' ? `---\n${formatObject(withTypeMeta(object, resource), 'yaml')}` : formatObject(withTypeMeta(object, resource), 'json'))
    items.forEach(print)
    for await (const event of followWatch(context.client, { path, query, accept, resourceVersion: stringAt(initial, ['metadata', 'resourceVersion']) })) print(event.object)
    return 0
  }
  const printer = new WatchTablePrinter(context, resource, namespace, tableOptions(args, mode === 'wide', allNamespaces && resource.namespaced, ''))
  const table = tableFromResponse(initial, io.nowMs())
  printer.print(table)
  for await (const event of followWatch(context.client, { path, query, accept, resourceVersion: table.resourceVersion })) {
    printer.print(await printer.tableOf(event.object, event.type))
  }
  return 0
}

/**
 * Prints watch tables row by row with stable columns. When the server sends plain objects rather
 * than one-row Tables, the row is fetched as a Table by name (or, for a deletion, the object's
 * last printed row is reused), so that the columns stay those of the header.
 */
class WatchTablePrinter {
  private readonly context: CommandContext
  private readonly resource: ApiResource
  private readonly namespace: string | undefined
  private readonly options: TablePrintOptions
  private widths: number[] = []
  private headerPrinted = false
  private columns: Table['columns'] | undefined
  /** The last cells printed per object uid, for deletions of plain-object watches. */
  private readonly lastRows = new Map<string, Table['rows'][number]>()

  constructor(context: CommandContext, resource: ApiResource, namespace: string | undefined, options: TablePrintOptions) {
    this.context = context
    this.resource = resource
    this.namespace = namespace
    this.options = options
  }

  print(table: Table): void {
    if (table.rows.length === 0) return
    this.columns ??= table.columns
    const lines = tableCells(table, { ...this.options, noHeaders: this.headerPrinted || this.options.noHeaders })
    this.headerPrinted = true
    this.widths = columnWidths(lines, this.widths)
    for (const cells of lines) this.context.io.write(`${padCells(cells, this.widths)}\n`)
    for (const row of table.rows) {
      const uid = stringAt(row.object, ['metadata', 'uid'])
      if (uid !== '') this.lastRows.set(uid, row)
    }
  }

  /** The one-row Table for a watch event's object. */
  async tableOf(object: JsonObject, type: string): Promise<Table> {
    const nowMs = this.context.io.nowMs()
    if (object['kind'] === 'Table') return tableFromResponse(object, nowMs)
    const uid = stringAt(object, ['metadata', 'uid'])
    const namespace = this.resource.namespaced ? (stringAt(object, ['metadata', 'namespace']) || this.namespace) : undefined
    if (type !== 'DELETED' && this.columns !== undefined) {
      try {
        return tableFromResponse(await this.context.client.json({ method: 'GET', path: resourcePath(this.resource, namespace, nameOf(object)), accept: TABLE_ACCEPT }), nowMs)
      } catch (error) {
        // Deleted meanwhile: print what is known below.
        if (!(error instanceof ServerError) || error.code !== 404) throw error
      }
    }
    const last = this.lastRows.get(uid)
    if (last !== undefined && this.columns !== undefined) return { columns: this.columns, rows: [{ cells: last.cells, object: last.object }], resourceVersion: '' }
    return tableFromResponse(object, nowMs)
  }
}
