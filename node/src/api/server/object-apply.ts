/**
 * Server-side apply over HTTP: `PATCH` with `Content-Type: application/apply-patch+yaml` on an
 * object's URL (`kubectl apply --server-side`). The merge, the field ownership and the conflicts
 * are machinery/server-side-apply.ts; this module is the request around it:
 *
 * - `fieldManager` is required and `force` takes conflicting fields (field-managers.ts);
 * - the body is the manager's whole configuration, JSON or YAML, and must name its apiVersion and
 *   kind (those of the URL) and the URL's name and namespace (400 otherwise);
 * - a `metadata.resourceVersion` in the body is a precondition (409 Conflict when the object is
 *   at another version, or missing);
 * - the object is created (201) when it does not exist, in a namespace that must be active, and
 *   otherwise updated (200) unless the apply changes nothing, when the stored object comes back
 *   unchanged (no new resourceVersion);
 * - the result is defaulted and validated like any write (admission.ts) after the apply, so
 *   defaulted fields are owned by nobody; `dryRun=All` runs everything and stores nothing.
 *
 * A race with another writer (the compare-and-swap of the update fails) is retried from a fresh
 * read, as kube-apiserver does, unless the body named a resourceVersion.
 */
import { isJsonObject, type JsonObject } from '../machinery/canonical.ts'
import { fieldForbidden } from '../machinery/field-errors.ts'
import { serverSideApply } from '../machinery/server-side-apply.ts'
import { ApiError, badRequest, conflict, invalid } from '../machinery/status.ts'
import { admit } from './admission.ts'
import { admitDefaultStorageClass } from './default-storage-class.ts'
import { applyManagerOf } from './field-managers.ts'
import { isNamespaceResource, prepareNamespaceForCreate, prepareNamespaceForUpdate, requireActiveNamespace } from './namespace-lifecycle.ts'
import { checkNameMatches, checkNamespaceMatches, validateNewObjectMeta, validateObjectMetaUpdate } from './object-meta.ts'
import { metadataOf, type ResourceRef } from './object-store.ts'
import { afterWrite, type WriteContext, type WriteRequest } from './object-writes.ts'
import { decodeBody, readBodyText } from './request-body.ts'
import { createWithServiceIp } from './service-ip-allocator.ts'
import { dryRunOf } from './request-options.ts'
import { sendJson } from './responses.ts'

/** Attempts of an apply that names no resourceVersion, when concurrent writes keep winning. */
const APPLY_ATTEMPTS_MAX = 8

/** PATCH with an apply configuration: creates or updates the object at `name`. */
export async function applyObject(context: WriteContext, target: WriteRequest, name: string): Promise<void> {
  const { resource, namespace, request, response, url } = target
  const dryRun = dryRunOf(url)
  const { manager, force } = applyManagerOf(url)
  const configuration = applyConfigurationOf(await readBodyText(request), resource, { name, namespace })
  const precondition = resourceVersionOf(configuration)
  for (let attempt = 1; ; attempt++) {
    const live = await getIfExists(context, resource, namespace, name)
    if (precondition !== undefined && (live === undefined || metadataOf(live)['resourceVersion'] !== precondition)) throw conflict(resource, name)
    const applied = serverSideApply({ live, applied: configuration, manager, force, nowIso: context.objects.now(), apiVersion: resource.apiVersion })
    try {
      if (live === undefined) return sendJson(response, 201, await createApplied(context, target, name, applied.object, dryRun))
      if (!applied.changed) return sendJson(response, 200, live)
      validateObjectMetaUpdate(resource, live, applied.object, { name, namespace })
      const next = admit(resource, isNamespaceResource(resource) ? prepareNamespaceForUpdate(live, applied.object) : applied.object, live)
      // The apply was computed from `live`, so it may only replace that version.
      const versioned = { ...next, metadata: { ...metadataOf(next), resourceVersion: metadataOf(live)['resourceVersion'] ?? null } }
      const result = await context.objects.update(resource, namespace, name, versioned, { dryRun, keepStatus: target.keepStatus })
      await afterWrite(context, resource, result, dryRun)
      return sendJson(response, 200, result)
    } catch (error) {
      // Another writer created or changed the object since it was read (ownership conflicts are
      // thrown before this try and never retried).
      const lostRace = error instanceof ApiError && error.code === 409 && (error.reason === 'Conflict' || error.reason === 'AlreadyExists')
      if (!lostRace || precondition !== undefined || attempt >= APPLY_ATTEMPTS_MAX) throw error
    }
  }
}

/**
 * The configuration in an apply body: an object (JSON or YAML) whose apiVersion and kind are the
 * URL's, whose name (when it names one) is the URL's, and whose namespace (when it names one) is
 * the URL's. A configuration without a name gets the URL's.
 * @throws ApiError 400.
 */
export function applyConfigurationOf(bodyText: string, resource: ResourceRef, url: { readonly name: string; readonly namespace: string | undefined }): JsonObject {
  // JSON is YAML, but the JSON parser is much faster on the large bodies kubectl sends.
  const value = decodeBody(bodyText, bodyText.trimStart().startsWith('{') ? 'json' : 'yaml')
  if (!isJsonObject(value)) throw badRequest(`the apply configuration must be an object, got ${Array.isArray(value) ? 'a list' : JSON.stringify(value)}`)
  const { apiVersion, kind } = value
  if (typeof apiVersion !== 'string' || apiVersion === '') throw badRequest("Object 'apiVersion' is missing in the apply configuration")
  if (typeof kind !== 'string' || kind === '') throw badRequest("Object 'Kind' is missing in the apply configuration")
  if (apiVersion !== resource.apiVersion) throw badRequest(`the API version in the data (${apiVersion}) does not match the expected API version (${resource.apiVersion})`)
  if (kind !== resource.kind) throw badRequest(`the kind in the data (${kind}) does not match the expected kind (${resource.kind})`)
  const metadata = metadataOf(value)
  if (value['metadata'] !== undefined && !isJsonObject(value['metadata'])) throw badRequest('metadata of the apply configuration must be an object')
  const named = typeof metadata['name'] === 'string' && metadata['name'] !== '' ? value : { ...value, metadata: { ...metadata, name: url.name } }
  checkNameMatches(named, url.name)
  checkNamespaceMatches(resource, named, url.namespace)
  return named
}

/** The configuration's resourceVersion precondition, or undefined when it names none. */
function resourceVersionOf(configuration: JsonObject): string | undefined {
  const version = metadataOf(configuration)['resourceVersion']
  if (version === undefined || version === null || version === '') return undefined
  return typeof version === 'string' ? version : JSON.stringify(version)
}

async function getIfExists(context: WriteContext, resource: ResourceRef, namespace: string | undefined, name: string): Promise<JsonObject | undefined> {
  try {
    return await context.objects.get(resource, namespace, name)
  } catch (error) {
    if (error instanceof ApiError && error.code === 404) return undefined
    throw error
  }
}

/** Creates the object an apply made from nothing, after the checks every create runs. */
async function createApplied(context: WriteContext, target: WriteRequest, name: string, object: JsonObject, dryRun: boolean): Promise<JsonObject> {
  const { resource } = target
  const generateName = metadataOf(object)['generateName']
  if (typeof generateName === 'string' && generateName !== '') {
    throw invalid({ group: resource.group, kind: resource.kind }, name, [fieldForbidden('metadata.generateName', 'generateName is not supported by server-side apply')])
  }
  validateNewObjectMeta(resource, object, target.namespace)
  const defaulted = await admitDefaultStorageClass(context.objects, resource, admit(resource, isNamespaceResource(resource) ? prepareNamespaceForCreate(object) : object))
  const namespace = resource.namespaced ? target.namespace : undefined
  if (namespace !== undefined) await requireActiveNamespace(context.objects, namespace, resource, name)
  return createWithServiceIp(context.objects, resource, namespace, defaulted, { dryRun })
}
