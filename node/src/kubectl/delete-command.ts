/**
 * `flotilla delete`: deletes objects named on the command line, by selector, or in manifests, then
 * (by default) waits until they are gone, as kubectl does.
 *
 *   flotilla delete <type> <name…> | <type>/<name>… | <type> -l selector | <type> --all | -f FILE
 *       [--cascade=background|foreground|orphan] [--wait=true|false] [--timeout 5m] [--ignore-not-found]
 *
 * Each DELETE carries `DeleteOptions` with the propagation policy of `--cascade` (kubectl's
 * `true`/`false` still mean background/orphan). Waiting watches each object with a
 * `metadata.name` field selector until its DELETED event, which is how kubectl waits too, so a
 * finalizer or foreground deletion keeps the command waiting exactly as long as the object exists.
 */
import { isJsonObject } from '../api/machinery/canonical.ts'
import type { FlagSpec, ParsedArguments } from './arguments.ts'
import type { CommandContext } from './command-context.ts'
import { parseDurationMs } from './duration.ts'
import { CommandError, KubectlUsageError, ServerError, WaitTimeoutError, formatError } from './errors.ts'
import { manifestNamespace } from './apply-command.ts'
import { readManifests } from './manifest.ts'
import { nameOf, stringAt } from './object-fields.ts'
import { kindPrefix, resourcePath, type ApiResource } from './resource-catalog.ts'
import { resolveTargets } from './targets.ts'
import { followWatch } from './watch-events.ts'

export const DELETE_FLAGS: readonly FlagSpec[] = [
  { name: 'filename', short: 'f', type: 'string', multiple: true },
  { name: 'recursive', short: 'R', type: 'boolean' },
  { name: 'selector', short: 'l', type: 'string' },
  { name: 'all', type: 'boolean' },
  { name: 'cascade', type: 'string' },
  { name: 'wait', type: 'boolean' },
  { name: 'timeout', type: 'string' },
  { name: 'ignore-not-found', type: 'boolean' },
]

/** Without --timeout, waiting for deletions gives up after this long. */
const DELETE_WAIT_TIMEOUT_MS = 5 * 60_000

/** One object to delete. */
interface Victim {
  readonly resource: ApiResource
  readonly namespace: string | undefined
  readonly name: string
}

/** `--cascade` as a DeleteOptions propagationPolicy. */
export function propagationPolicy(cascade: string | undefined): 'Background' | 'Foreground' | 'Orphan' {
  switch (cascade ?? 'background') {
    case 'background':
    case 'true':
      return 'Background'
    case 'foreground':
      return 'Foreground'
    case 'orphan':
    case 'false':
      return 'Orphan'
    default:
      throw new KubectlUsageError(`invalid cascade value (${cascade}); must be one of: background, foreground, orphan`)
  }
}

/** Runs `delete`; returns the exit code. */
export async function runDelete(context: CommandContext, args: ParsedArguments): Promise<number> {
  const policy = propagationPolicy(args.string('cascade'))
  const timeoutText = args.string('timeout')
  const timeoutMs = timeoutText === undefined ? DELETE_WAIT_TIMEOUT_MS : parseDurationMs('timeout', timeoutText)
  const victims = await collectVictims(context, args)
  const errors: unknown[] = []
  const deleted: Victim[] = []
  for (const victim of victims) {
    try {
      await context.client.json({
        method: 'DELETE',
        path: resourcePath(victim.resource, victim.namespace, victim.name),
        body: JSON.stringify({ kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: policy }),
      })
      context.io.write(`${kindPrefix(victim.resource)} "${victim.name}" deleted\n`)
      deleted.push(victim)
    } catch (error) {
      if (error instanceof ServerError && error.code === 404 && args.boolean('ignore-not-found')) continue
      if (!(error instanceof ServerError)) throw error
      errors.push(error)
    }
  }
  if (args.boolean('wait', true)) {
    const signal = AbortSignal.timeout(timeoutMs === 0 ? 2 ** 31 - 1 : timeoutMs)
    for (const victim of deleted) {
      try {
        await waitUntilGone(context, victim, signal)
      } catch (error) {
        if (!(error instanceof ServerError) && !(error instanceof WaitTimeoutError)) throw error
        errors.push(error)
      }
    }
  }
  for (const error of errors) context.io.error(`${formatError(error)}\n`)
  return errors.length > 0 ? 1 : 0
}

/** The objects the arguments name: manifests, names, or a selector's (or --all's) matches. */
async function collectVictims(context: CommandContext, args: ParsedArguments): Promise<Victim[]> {
  const catalog = await context.catalog()
  const files = args.strings('filename')
  if (files.length > 0) {
    if (args.positionals.length > 0) throw new CommandError('specify objects either with -f or as arguments, not both')
    const manifests = await readManifests(files, { recursive: args.boolean('recursive'), readStdin: () => context.io.readStdin() })
    return manifests.map(({ object, source }) => {
      const resource = catalog.forKind(stringAt(object, ['apiVersion']), stringAt(object, ['kind']))
      return { resource, namespace: manifestNamespace(context, resource, object, source), name: nameOf(object) }
    })
  }
  if (args.positionals.length === 0) throw new CommandError('you must provide one or more resources by argument or filename')
  const targets = resolveTargets(args.positionals, catalog, 'delete')
  const selector = args.string('selector')
  const victims: Victim[] = []
  for (const target of targets) {
    const namespace = target.resource.namespaced ? context.namespace : undefined
    if (target.names.length > 0) {
      if (selector !== undefined || args.boolean('all')) throw new CommandError('name cannot be provided when a selector or --all is specified')
      for (const name of target.names) victims.push({ resource: target.resource, namespace, name })
      continue
    }
    if (selector === undefined && !args.boolean('all')) throw new CommandError('resource(s) were provided, but no name, label selector, or --all flag specified')
    const list = await context.client.json({ method: 'GET', path: resourcePath(target.resource, namespace), query: { labelSelector: selector } })
    for (const item of Array.isArray(list['items']) ? list['items'].filter(isJsonObject) : []) victims.push({ resource: target.resource, namespace, name: nameOf(item) })
  }
  if (victims.length === 0 && !args.boolean('ignore-not-found')) context.io.error('No resources found\n')
  return victims
}

/** Resolves once the object no longer exists (its DELETED event or a 404). */
async function waitUntilGone(context: CommandContext, victim: Victim, signal: AbortSignal): Promise<void> {
  const path = resourcePath(victim.resource, victim.namespace)
  const query = { fieldSelector: `metadata.name=${victim.name}` }
  const list = await context.client.json({ method: 'GET', path, query })
  const items = Array.isArray(list['items']) ? list['items'] : []
  if (items.length === 0) return
  for await (const event of followWatch(context.client, { path, query, resourceVersion: stringAt(list, ['metadata', 'resourceVersion']), signal })) {
    if (event.type === 'DELETED') return
  }
  throw new WaitTimeoutError(`timed out waiting for the condition on ${victim.resource.name}/${victim.name}`)
}
