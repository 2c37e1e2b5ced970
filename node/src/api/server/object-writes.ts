/**
 * Writes of a resource's objects: POST (create), PUT (replace) and PATCH (server-side apply is
 * object-apply.ts).
 *
 * Every check runs before the one write at the end (query parameters, Content-Type, the body,
 * kind and apiVersion, metadata rules, the namespace, defaulting and validation), so a request
 * that fails changes nothing. `dryRun=All` runs all of it and returns what would be stored.
 * A write that changes nothing is not written (the object comes back with its resourceVersion
 * unchanged), and an update that removes the last finalizer of an object being deleted deletes
 * it, followed by the deletion's follow-ups (deletion.ts). Every write records its field manager
 * (`fieldManager`, else the User-Agent) in managedFields (field-managers.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { randomFromEntropy } from '../../../../lib/random.ts'
import type { JsonObject } from '../machinery/canonical.ts'
import { generateName } from '../machinery/names.ts'
import { ApiError, badRequest } from '../machinery/status.ts'
import { admit } from './admission.ts'
import { admitDefaultStorageClass } from './default-storage-class.ts'
import { isReadyToVanish } from './deletion-state.ts'
import type { Deletion } from './deletion.ts'
import { updateManagerOf, updateRecorder } from './field-managers.ts'
import { admitQuota } from './quota-admission.ts'
import { isNamespaceResource, prepareNamespaceForCreate, prepareNamespaceForUpdate, requireActiveNamespace } from './namespace-lifecycle.ts'
import { validateNewObjectMeta, validateObjectMetaUpdate } from './object-meta.ts'
import { metadataOf, type ObjectStore, type ResourceRef } from './object-store.ts'
import { PATCHERS, type PlainPatchType } from './patchers.ts'
import { checkTypeMeta, readBodyText, readObjectBody } from './request-body.ts'
import { dryRunOf } from './request-options.ts'
import { sendJson } from './responses.ts'
import { createWithServiceIp } from './service-ip-allocator.ts'

/** Suffixes for generateName; not replayed, so entropy-seeded. */
const NAME_RANDOM = randomFromEntropy()

/** Attempts of a PATCH that names no resourceVersion, when concurrent writes keep winning. */
const PATCH_ATTEMPTS_MAX = 8

export interface WriteContext {
  readonly objects: ObjectStore
  readonly deletion: Deletion
}

/** A write request on a collection (POST) or on one object (PUT, PATCH: `name` is set). */
export interface WriteRequest {
  readonly resource: ResourceRef
  /** The namespace in the URL. */
  readonly namespace: string | undefined
  /** True when the resource has a status subresource: status is then written only through it. */
  readonly keepStatus: boolean
  readonly request: IncomingMessage
  readonly response: ServerResponse
  readonly url: URL
}

/** POST: creates the object in the body; 201 with the object as stored. */
export async function createObject(context: WriteContext, target: WriteRequest): Promise<void> {
  const { resource, request, response, url } = target
  const dryRun = dryRunOf(url)
  const record = updateRecorder(request, resource, updateManagerOf(url, 'CreateOptions'), () => context.objects.now())
  const body = await readObjectBody(request)
  checkTypeMeta(body, resource)
  const named = typeof metadataOf(body)['name'] === 'string' && metadataOf(body)['name'] !== '' ? body : withGeneratedName(body)
  validateNewObjectMeta(resource, named, target.namespace)
  const defaulted = await admitDefaultStorageClass(context.objects, resource, admit(resource, isNamespaceResource(resource) ? prepareNamespaceForCreate(named) : named))
  const bodyNamespace = metadataOf(named)['namespace']
  const namespace = resource.namespaced ? (target.namespace ?? (typeof bodyNamespace === 'string' && bodyNamespace !== '' ? bodyNamespace : 'default')) : undefined
  const name = String(metadataOf(named)['name'])
  if (namespace !== undefined) {
    await requireActiveNamespace(context.objects, namespace, resource, name)
    await admitQuota(context.objects, resource, namespace, name, defaulted)
  }
  sendJson(response, 201, await createWithServiceIp(context.objects, resource, namespace, record(undefined, defaulted), { dryRun }))
}

/** PUT: replaces the object with the body (a resourceVersion in it must match). */
export async function replaceObject(context: WriteContext, target: WriteRequest, name: string): Promise<void> {
  const { resource, namespace, request, response, url } = target
  const dryRun = dryRunOf(url)
  const record = updateRecorder(request, resource, updateManagerOf(url, 'UpdateOptions'), () => context.objects.now())
  const body = await readObjectBody(request)
  checkTypeMeta(body, resource)
  const current = await context.objects.get(resource, namespace, name)
  validateObjectMetaUpdate(resource, current, body, { name, namespace })
  const next = admit(resource, isNamespaceResource(resource) ? prepareNamespaceForUpdate(current, body) : body, current)
  const result = await context.objects.update(resource, namespace, name, next, { dryRun, keepStatus: target.keepStatus, prepare: (candidate, stored) => record(stored, candidate) })
  await afterWrite(context, resource, result, dryRun)
  sendJson(response, 200, result)
}

/**
 * PATCH: applies the body, in the patch type its Content-Type names, to the current object. A
 * patch that carries a resourceVersion must match it; one that does not is retried from a fresh
 * read when a concurrent write wins the race, as kube-apiserver does.
 */
export async function patchObject(context: WriteContext, target: WriteRequest, name: string, type: PlainPatchType): Promise<void> {
  const { resource, namespace, request, response, url } = target
  const dryRun = dryRunOf(url)
  const record = updateRecorder(request, resource, updateManagerOf(url, 'PatchOptions'), () => context.objects.now())
  const bodyText = await readBodyText(request)
  for (let attempt = 1; ; attempt++) {
    const current = await context.objects.get(resource, namespace, name)
    const patched = PATCHERS[type](current, bodyText)
    checkTypeMeta(patched, resource)
    validateObjectMetaUpdate(resource, current, patched, { name, namespace })
    const next = admit(resource, isNamespaceResource(resource) ? prepareNamespaceForUpdate(current, patched) : patched, current)
    const namedVersion = metadataOf(patched)['resourceVersion'] !== metadataOf(current)['resourceVersion']
    try {
      const prepare = (candidate: JsonObject, stored: JsonObject): JsonObject => record(stored, candidate)
      const result = await context.objects.update(resource, namespace, name, next, { dryRun, keepStatus: target.keepStatus, prepare })
      await afterWrite(context, resource, result, dryRun)
      return sendJson(response, 200, result)
    } catch (error) {
      const lostRace = error instanceof ApiError && error.code === 409 && error.reason === 'Conflict' && !namedVersion
      if (!lostRace || attempt >= PATCH_ATTEMPTS_MAX) throw error
    }
  }
}

/** An update that left a marked object without finalizers deleted it: run the follow-ups. */
export async function afterWrite(context: WriteContext, resource: ResourceRef, result: JsonObject, dryRun: boolean): Promise<void> {
  if (!dryRun && isReadyToVanish(resource, result)) await context.deletion.afterVanished([{ resource, object: result }])
}

function withGeneratedName(body: JsonObject): JsonObject {
  const metadata = metadataOf(body)
  const prefix = metadata['generateName']
  if (typeof prefix !== 'string' || prefix === '') throw badRequest('metadata.name or metadata.generateName is required')
  return { ...body, metadata: { ...metadata, name: generateName(prefix, NAME_RANDOM) } }
}
