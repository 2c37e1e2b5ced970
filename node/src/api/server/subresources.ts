/**
 * Subresources that write part of an object: `/scale` (autoscaling/v1 Scale over `spec.replicas`),
 * `/status` (only `status` changes) and a Namespace's `/finalize` (only `spec.finalizers`
 * changes). Each takes PUT, and the first two every patch type; all honour `dryRun=All`, and a
 * write that changes nothing writes nothing.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { isJsonObject, type JsonObject, type JsonValue } from '../machinery/canonical.ts'
import { fieldInvalid } from '../machinery/field-errors.ts'
import { invalid, methodNotAllowed } from '../machinery/status.ts'
import { isReadyToVanish, namespaceFinalizersOf } from './deletion-state.ts'
import type { Deletion } from './deletion.ts'
import { checkNameMatches } from './object-meta.ts'
import { metadataOf, type ObjectStore, type ResourceRef } from './object-store.ts'
import { patcherFor } from './patchers.ts'
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

/** The desired object of a PUT or PATCH on a subresource whose view of the parent is `view`. */
async function desiredOf(target: SubresourceRequest, view: JsonObject, expected: { apiVersion: string; kind: string }): Promise<JsonObject> {
  const { request, resource, url } = target
  if (request.method === 'PUT') {
    const body = await readObjectBody(request)
    checkTypeMeta(body, expected)
    checkNameMatches(body, target.name)
    return body
  }
  if (request.method === 'PATCH') {
    const { patch } = patcherFor(request.headers['content-type'])
    const patched = patch(view, await readBodyText(request), { url })
    checkTypeMeta(patched, expected)
    checkNameMatches(patched, target.name)
    return patched
  }
  throw methodNotAllowed(resource, `${String(request.method)} on this subresource`)
}

/** The resourceVersion a subresource write must match: the client's, else the one it read. */
function expectedVersion(desired: JsonObject, current: JsonObject): JsonValue {
  return metadataOf(desired)['resourceVersion'] ?? metadataOf(current)['resourceVersion'] ?? null
}

/** `/scale`: GET, PUT and PATCH of the parent's replica count. */
export async function serveScale(context: SubresourceContext, target: SubresourceRequest): Promise<void> {
  const { resource, namespace, name, request, response, url } = target
  const parent = await context.objects.get(resource, namespace, name)
  if (request.method === 'GET') return sendJson(response, 200, scaleOf(parent))
  const dryRun = dryRunOf(url)
  const desired = await desiredOf(target, scaleOf(parent), SCALE_TYPE)
  const replicas = objectAt(desired['spec'])['replicas']
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
    throw invalid({ group: 'autoscaling', kind: 'Scale' }, name, [fieldInvalid('spec.replicas', replicas ?? null, 'must be greater than or equal to 0')])
  }
  const next: JsonObject = {
    ...parent,
    metadata: { ...metadataOf(parent), resourceVersion: expectedVersion(desired, parent) },
    spec: { ...objectAt(parent['spec']), replicas },
  }
  sendJson(response, 200, scaleOf(await context.objects.update(resource, namespace, name, next, { dryRun })))
}

/** `/status`: GET the object; PUT and PATCH change its `status` and nothing else. */
export async function serveStatus(context: SubresourceContext, target: SubresourceRequest): Promise<void> {
  const { resource, namespace, name, request, response, url } = target
  const current = await context.objects.get(resource, namespace, name)
  if (request.method === 'GET') return sendJson(response, 200, current)
  const dryRun = dryRunOf(url)
  const desired = await desiredOf(target, current, resource)
  const next: JsonObject = { ...current, status: desired['status'] ?? null, metadata: { ...metadataOf(current), resourceVersion: expectedVersion(desired, current) } }
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
  const body = await readObjectBody(request)
  checkTypeMeta(body, resource)
  checkNameMatches(body, name)
  const next: JsonObject = {
    ...current,
    spec: { ...objectAt(current['spec']), finalizers: namespaceFinalizersOf(body) },
    metadata: { ...metadataOf(current), resourceVersion: expectedVersion(body, current) },
  }
  const result = await context.objects.update(resource, undefined, name, next, { dryRun })
  if (!dryRun && isReadyToVanish(resource, result)) await context.deletion.afterVanished([{ resource, object: result }])
  sendJson(response, 200, result)
}
