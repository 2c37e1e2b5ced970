/**
 * `flotilla apply -f <file|dir|->`: server-side apply of every object in the manifests.
 *
 * Each object goes to the server as one PATCH with `Content-Type: application/apply-patch+yaml`
 * and `?fieldManager=flotilla` (`--force-conflicts` adds `force=true`), the body being the object
 * as JSON (JSON is YAML). The server merges it and owns the result; there is no client-side
 * three-way diff. The line printed per object says what happened, read from a GET before the
 * PATCH and the answer after it: `created` (201, or the object was absent), `unchanged` (its
 * resourceVersion did not move), `configured` (it did), or kubectl's `serverside-applied` when it
 * cannot tell. Objects are applied in manifest order; a failing one is reported and the others
 * still go, and the exit code is then 1.
 *
 *   flotilla apply -f FILE|DIR|- [-f …] [-R] [--force-conflicts] [--field-manager NAME] [--dry-run=server]
 */
import type { JsonObject } from '../api/machinery/canonical.ts'
import type { FlagSpec, ParsedArguments } from './arguments.ts'
import type { CommandContext } from './command-context.ts'
import { CommandError, KubectlUsageError, ServerError, formatError } from './errors.ts'
import { readManifests, type ManifestObject } from './manifest.ts'
import { nameOf, namespaceOf, objectAt, stringAt } from './object-fields.ts'
import { kindPrefix, resourcePath, type ApiResource, type ResourceCatalog } from './resource-catalog.ts'
import { serverErrorOf } from './rest-client.ts'

export const APPLY_FLAGS: readonly FlagSpec[] = [
  { name: 'filename', short: 'f', type: 'string', multiple: true },
  { name: 'recursive', short: 'R', type: 'boolean' },
  { name: 'force-conflicts', type: 'boolean' },
  { name: 'field-manager', type: 'string' },
  { name: 'server-side', type: 'boolean' },
  { name: 'dry-run', type: 'string' },
]

/** The field manager recorded in managedFields for changes made by `flotilla apply`. */
export const FIELD_MANAGER = 'flotilla'
export const APPLY_PATCH_CONTENT_TYPE = 'application/apply-patch+yaml'

/** What the server did with one applied object. */
export type ApplyOutcome = 'created' | 'configured' | 'unchanged' | 'serverside-applied'

/**
 * The outcome from what was seen: the resourceVersion before (undefined: the object was absent,
 * null: unknown), the answer's status code and resourceVersion.
 */
export function applyOutcome(before: string | undefined | null, status: number, after: string): ApplyOutcome {
  if (status === 201 || before === undefined) return 'created'
  if (before === null || after === '') return 'serverside-applied'
  return before === after ? 'unchanged' : 'configured'
}

/** Runs `apply`; returns the exit code. */
export async function runApply(context: CommandContext, args: ParsedArguments): Promise<number> {
  const dryRun = args.string('dry-run')
  if (dryRun !== undefined && dryRun !== 'server' && dryRun !== 'none') throw new KubectlUsageError(`--dry-run must be "server" or "none" (flotilla applies on the server), got "${dryRun}"`)
  const manifests = await readManifests(args.strings('filename'), { recursive: args.boolean('recursive'), readStdin: () => context.io.readStdin() })
  const catalog = await context.catalog()
  let failed = false
  for (const manifest of manifests) {
    try {
      const line = await applyOne(context, catalog, manifest, { force: args.boolean('force-conflicts'), fieldManager: args.string('field-manager') ?? FIELD_MANAGER, dryRun: dryRun === 'server' })
      context.io.write(`${line}\n`)
    } catch (error) {
      if (!(error instanceof ServerError) && !(error instanceof CommandError)) throw error
      failed = true
      context.io.error(`${formatError(error)}\n`)
    }
  }
  return failed ? 1 : 0
}

/** The namespace an object of a manifest goes to, refusing a conflict with an explicit `-n`. */
export function manifestNamespace(context: CommandContext, resource: ApiResource, object: JsonObject, source: string): string | undefined {
  if (!resource.namespaced) return undefined
  const own = namespaceOf(object)
  const explicit = context.options.namespace
  if (own !== undefined && explicit !== undefined && own !== explicit) {
    throw new CommandError(`the namespace from the provided object "${own}" does not match the namespace "${explicit}" (${source}). You must pass '--namespace=${own}' to perform this operation.`)
  }
  return own ?? context.namespace
}

async function applyOne(context: CommandContext, catalog: ResourceCatalog, manifest: ManifestObject, options: { force: boolean; fieldManager: string; dryRun: boolean }): Promise<string> {
  const { object, source } = manifest
  const resource = catalog.forKind(stringAt(object, ['apiVersion']), stringAt(object, ['kind']))
  const namespace = manifestNamespace(context, resource, object, source)
  const name = nameOf(object)
  const path = resourcePath(resource, namespace, name)
  const before = await resourceVersionBefore(context, path)
  const body: JsonObject = namespace === undefined ? object : { ...object, metadata: { ...objectAt(object, 'metadata'), namespace } }
  const response = await context.client.request({
    method: 'PATCH',
    path,
    query: { fieldManager: options.fieldManager, force: options.force ? 'true' : undefined, dryRun: options.dryRun ? 'All' : undefined },
    contentType: APPLY_PATCH_CONTENT_TYPE,
    body: JSON.stringify(body),
  })
  if (response.status < 200 || response.status > 299) {
    throw serverErrorOf(response.status, response.body)
  }
  let after = ''
  try {
    after = stringAt(JSON.parse(response.body) as unknown, ['metadata', 'resourceVersion'])
  } catch {
    // An answer without a readable object still means success; the outcome is then unknown.
  }
  const outcome = applyOutcome(before, response.status, after)
  return `${kindPrefix(resource)}/${name} ${outcome}${options.dryRun ? ' (server dry run)' : ''}`
}

/** The object's resourceVersion now: undefined when absent, null when it cannot be read. */
async function resourceVersionBefore(context: CommandContext, path: string): Promise<string | undefined | null> {
  const response = await context.client.request({ method: 'GET', path })
  if (response.status === 404) return undefined
  if (response.status !== 200) return null
  try {
    return stringAt(JSON.parse(response.body) as unknown, ['metadata', 'resourceVersion']) || null
  } catch {
    return null
  }
}
