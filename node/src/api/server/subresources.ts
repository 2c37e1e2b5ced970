/**
 * Subresources that write part of an object: `/scale` (autoscaling/v1 Scale over `spec.replicas`),
 * `/status` (only `status` changes) and a Namespace's `/finalize` (only `spec.finalizers`
 * changes). Each takes PUT, and the first two the plain patch types; `/status` also takes
 * server-side apply. All honour `dryRun=All`, a write that changes nothing writes nothing, and
 * every write records its field manager in managedFields with the subresource's name.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { isJsonObject, type JsonObject, type JsonValue } from '../machinery/canonical.ts'
import { fieldInvalid } from '../machinery/field-errors.ts'
import { serverSideApply } from '../machinery/server-side-apply.ts'
import { invalid, methodNotAllowed } from '../machinery/status.ts'
import { isReadyToVanish, namespaceFinalizersOf } from './deletion-state.ts'
import type { Deletion } from './deletion.ts'
import { applyManagerOf, updateManagerOf, updateRecorder, type UpdateRecorder } from './field-managers.ts'
import { INT32_MAX } from './kinds/field-checks.ts'
import { applyConfigurationOf } from './object-apply.ts'
import { checkNameMatches } from './object-meta.ts'
import { metadataOf, type ObjectStore, type ResourceRef } from './object-store.ts'
import { PATCHERS, patchTypeFor, type PlainPatchType } from './patchers.ts'
import { checkTypeMeta, readBodyText, readObjectBody } from './request-body.ts'
import { dryRunOf } from './request-options.ts'
import { sendJson } from './responses.ts'

/** What the subresource handlers need from the server. */
export interface SubresourceContext {
  readonly objects: ObjectStore
  readonly deletion: Deletion
}

/** One subresource request: the parent object's coordinates and the HTTP exchange. */
export interface SubresourceRequest {
  readonly resource: ResourceRef
  readonly namespace: string | undefined
  readonly name: string
  readonly request: IncomingMessage
  readonly response: ServerResponse
  readonly url: URL
}

const SCALE_TYPE = { apiVersion: 'autoscaling/v1', kind: 'Scale' } as const

function objectAt(value: JsonValue | undefined): JsonObject {
  return isJsonObject(value) ? value : {}
}

/** The Scale view of a workload: `spec.replicas`, `status.replicas` and the selector as text. */
export function scaleOf(object: JsonObject): JsonObject {
  const metadata = metadataOf(object)
  const spec = objectAt(object['spec'])
  const status = objectAt(object['status'])
  const matchLabels = objectAt(objectAt(spec['selector'])['matchLabels'])
  const selector = Object.entries(matchLabels).map(([key, value]) => `${key}=${String(value)}`).join(',')
  return {
    ...SCALE_TYPE,
    metadata: {
      name: metadata['name'] ?? null,
      namespace: metadata['namespace'] ?? null,
      uid: metadata['uid'] ?? null,
      resourceVersion: metadata['resourceVersion'] ?? null,
      creationTimestamp: metadata['creationTimestamp'] ?? null,
    },
    spec: { replicas: typeof spec['replicas'] === 'number' ? spec['replicas'] : 1 },
    status: { replicas: typeof status['replicas'] === 'number' ? status['replicas'] : 0, selector },
  }
}

const PLAIN_PATCH_TYPES: readonly PlainPatchType[] = ['json', 'merge', 'strategic']

/** The desired object of a PUT or plain PATCH on a subresource whose view of the parent is `view`. */
async function desiredOf(target: SubresourceRequest, view: JsonObject, expected: { apiVersion: string; kind: string }, type: PlainPatchType | undefined): Promise<JsonObject> {
  const { request, resource } = target
  if (request.method === 'PUT') {
    const body = await readObjectBody(request)
    checkTypeMeta(body, expected)
    checkNameMatches(body, target.name)
    return body
  }
  if (request.method === 'PATCH' && type !== undefined) return patchedView(target, view, expected, type, await readBodyText(request))
  throw methodNotAllowed(resource, `${String(request.method)} on this subresource`)
}

/** `view` with the PATCH body `text` (of patch type `type`) applied, checked against the URL. */
function patchedView(target: SubresourceRequest, view: JsonObject, expected: { apiVersion: string; kind: string }, type: PlainPatchType, text: string): JsonObject {
  const patched = PATCHERS[type](view, text)
  checkTypeMeta(patched, expected)
  checkNameMatches(patched, target.name)
  return patched
}

/**
 * Runs a subresource write; a PATCH that pins no resourceVersion is re-read and re-applied when a
 * concurrent write (a controller's status update, say) wins the compare-and-swap, as
 * kube-apiserver's GuaranteedUpdate does. `attempt` gets the body text, read once.
 */
async function withConflictRetries(request: SubresourceRequest['request'], attempt: (text: string | undefined) => Promise<JsonObject>): Promise<JsonObject> {
  if (request.method !== 'PATCH') return attempt(undefined)
  const text = await readBodyText(request)
  const pinned = text.includes('resourceVersion')
  for (let tries = 1; ; tries++) {
    try {
      return await attempt(text)
    } catch (error) {
      const retriable = !pinned && tries < PATCH_CONFLICT_RETRIES_MAX && (error as { code?: number; reason?: string }).code === 409 && (error as { reason?: string }).reason === 'Conflict'
      if (!retriable) throw error
    }
  }
}

/** How often a PATCH without a resourceVersion is retried after losing a race. */
const PATCH_CONFLICT_RETRIES_MAX = 5

/**
 * The managedFields recorder of a PUT or plain PATCH on `subresource` (checking fieldManager and
 * force), and the patch type of a PATCH (undefined for a PUT).
 * @throws ApiError 415 for a patch type the subresource does not take; 422 for bad options.
 */
function writeOptionsOf(
  context: SubresourceContext,
  target: SubresourceRequest,
  subresource: 'scale' | 'status' | 'finalize',
): { readonly record: UpdateRecorder; readonly type: PlainPatchType | undefined } {
  const { request, resource, url } = target
  const type = request.method === 'PATCH' ? patchTypeFor(request.headers['content-type'], PLAIN_PATCH_TYPES) : undefined
  const manager = updateManagerOf(url, request.method === 'PATCH' ? 'PatchOptions' : 'UpdateOptions')
  return { record: updateRecorder(request, resource, manager, () => context.objects.now(), subresource), type }
}

/** The `prepare` of an update that records the write through `record`. */
function recording(record: UpdateRecorder): (next: JsonObject, current: JsonObject) => JsonObject {
  return (next, current) => record(current, next)
}

/** The resourceVersion a subresource write must match: the client's, else the one it read. */
function expectedVersion(desired: JsonObject, current: JsonObject): JsonValue {
  return metadataOf(desired)['resourceVersion'] ?? metadataOf(current)['resourceVersion'] ?? null
}

/** `/scale`: GET, PUT and PATCH of the parent's replica count. */
export async function serveScale(context: SubresourceContext, target: SubresourceRequest): Promise<void> {
  const { resource, namespace, name, request, response, url } = target
  if (request.method === 'GET') return sendJson(response, 200, scaleOf(await context.objects.get(resource, namespace, name)))
  const dryRun = dryRunOf(url)
  const { record, type } = writeOptionsOf(context, target, 'scale')
  const written = await withConflictRetries(request, async (text) => {
    const parent = await context.objects.get(resource, namespace, name)
    const desired = text === undefined || type === undefined ? await desiredOf(target, scaleOf(parent), SCALE_TYPE, type) : patchedView(target, scaleOf(parent), SCALE_TYPE, type, text)
    const replicas = objectAt(desired['spec'])['replicas']
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0 || replicas > INT32_MAX) {
      const detail = typeof replicas === 'number' && replicas > INT32_MAX ? `must be less than or equal to ${INT32_MAX}` : 'must be greater than or equal to 0'
      throw invalid({ group: 'autoscaling', kind: 'Scale' }, name, [fieldInvalid('spec.replicas', replicas ?? null, detail)])
    }
    const next: JsonObject = {
      ...parent,
      metadata: { ...metadataOf(parent), resourceVersion: expectedVersion(desired, parent) },
      spec: { ...objectAt(parent['spec']), replicas },
    }
    return context.objects.update(resource, namespace, name, next, { dryRun, prepare: recording(record) })
  })
  sendJson(response, 200, scaleOf(written))
}

/** `/status`: GET the object; PUT, PATCH and apply change its `status` and nothing else. */
export async function serveStatus(context: SubresourceContext, target: SubresourceRequest): Promise<void> {
  const { resource, namespace, name, request, response, url } = target
  const current = await context.objects.get(resource, namespace, name)
  if (request.method === 'GET') return sendJson(response, 200, current)
  if (request.method === 'PATCH' && patchTypeFor(request.headers['content-type']) === 'apply') return applyStatus(context, target, current)
  const dryRun = dryRunOf(url)
  const { record, type } = writeOptionsOf(context, target, 'status')
  const written = await withConflictRetries(request, async (text) => {
    const live = text === undefined ? current : await context.objects.get(resource, namespace, name)
    const desired = text === undefined || type === undefined ? await desiredOf(target, live, resource, type) : patchedView(target, live, resource, type, text)
    const next: JsonObject = { ...live, status: desired['status'] ?? null, metadata: { ...metadataOf(live), resourceVersion: expectedVersion(desired, live) } }
    return context.objects.update(resource, namespace, name, next, { dryRun, prepare: recording(record) })
  })
  sendJson(response, 200, written)
}

/**
 * Server-side apply through `/status`: the configuration's `status` is applied with ownership
 * (machinery/server-side-apply.ts, subresource `status`); the rest of the object stays.
 */
async function applyStatus(context: SubresourceContext, target: SubresourceRequest, current: JsonObject): Promise<void> {
  const { resource, namespace, name, request, response, url } = target
  const dryRun = dryRunOf(url)
  const { manager, force } = applyManagerOf(url)
  const configuration = applyConfigurationOf(await readBodyText(request), resource, { name, namespace })
  const applied = serverSideApply({ live: current, applied: configuration, manager, force, nowIso: context.objects.now(), apiVersion: resource.apiVersion, subresource: 'status' })
  if (!applied.changed) return sendJson(response, 200, current)
  const next: JsonObject = {
    ...current,
    status: applied.object['status'] ?? null,
    metadata: { ...metadataOf(current), managedFields: metadataOf(applied.object)['managedFields'] ?? null, resourceVersion: expectedVersion(configuration, current) },
  }
  sendJson(response, 200, await context.objects.update(resource, namespace, name, next, { dryRun }))
}

/**
 * A Namespace's `/finalize`: PUT replaces `spec.finalizers` (how the namespace controller, or an
 * operator unsticking a namespace, releases it). A terminating namespace left without finalizers
 * goes.
 */
export async function serveFinalize(context: SubresourceContext, target: SubresourceRequest): Promise<void> {
  const { resource, name, request, response, url } = target
  if (request.method !== 'PUT') throw methodNotAllowed(resource, `${String(request.method)} on finalize`)
  const current = await context.objects.get(resource, undefined, name)
  const dryRun = dryRunOf(url)
  const { record } = writeOptionsOf(context, target, 'finalize')
  const body = await readObjectBody(request)
  checkTypeMeta(body, resource)
  checkNameMatches(body, name)
  const next: JsonObject = {
    ...current,
    spec: { ...objectAt(current['spec']), finalizers: namespaceFinalizersOf(body) },
    metadata: { ...metadataOf(current), resourceVersion: expectedVersion(body, current) },
  }
  const result = await context.objects.update(resource, undefined, name, next, { dryRun, prepare: recording(record) })
  if (!dryRun && isReadyToVanish(resource, result)) await context.deletion.afterVanished([{ resource, object: result }])
  sendJson(response, 200, result)
}
