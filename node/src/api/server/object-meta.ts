/**
 * ObjectMeta rules every kind shares, checked before a write: what a new object's metadata must
 * look like, and what an update may not change.
 *
 * As in kube-apiserver, a request whose name or namespace disagrees with its URL is malformed
 * (400 BadRequest), while metadata that breaks a rule is 422 Invalid with field causes: names,
 * labels and finalizers must be well formed; uid and deletionTimestamp cannot be changed by an
 * update; no finalizer may be added to an object being deleted. Fields the server owns and clients
 * cannot meaningfully send (creationTimestamp, generation) are silently kept by the object store.
 */
import { isJsonObject, type JsonObject } from '../machinery/canonical.ts'
import { fieldForbidden, fieldInvalid, type FieldError } from '../machinery/field-errors.ts'
import { dns1123SubdomainErrors, labelValueErrors, qualifiedNameErrors } from '../machinery/names.ts'
import { badRequest, invalid } from '../machinery/status.ts'
import { addedFinalizers, isBeingDeleted } from './deletion-state.ts'
import { metadataOf, type ResourceRef } from './object-store.ts'

/**
 * Checks the body's namespace against the URL's for a namespaced resource.
 * @throws ApiError 400 when they differ.
 */
export function checkNamespaceMatches(resource: ResourceRef, object: JsonObject, pathNamespace: string | undefined): void {
  const namespace = metadataOf(object)['namespace']
  if (!resource.namespaced || pathNamespace === undefined || namespace === undefined || namespace === null || namespace === '') return
  if (namespace !== pathNamespace) throw badRequest('the namespace of the provided object does not match the namespace sent on the request')
}

/**
 * Checks the body's name against the URL's (an update names its object in both).
 * @throws ApiError 400 when they differ.
 */
export function checkNameMatches(object: JsonObject, urlName: string): void {
  const name = metadataOf(object)['name']
  if (name !== urlName) throw badRequest(`the name of the object (${typeof name === 'string' ? name : ''}) does not match the name on the URL (${urlName})`)
}

/** Field errors of the metadata any object must have well formed: name, labels, finalizers. */
function metadataErrors(object: JsonObject): FieldError[] {
  const metadata = metadataOf(object)
  const name = String(metadata['name'] ?? '')
  const errors: FieldError[] = dns1123SubdomainErrors(name).map((detail) => fieldInvalid('metadata.name', name, detail))
  const labels = isJsonObject(metadata['labels']) ? metadata['labels'] : {}
  for (const [key, value] of Object.entries(labels)) {
    for (const detail of qualifiedNameErrors(key)) errors.push(fieldInvalid('metadata.labels', key, detail))
    if (typeof value !== 'string') errors.push(fieldInvalid('metadata.labels', value, 'label values must be strings'))
    else for (const detail of labelValueErrors(value)) errors.push(fieldInvalid('metadata.labels', value, detail))
  }
  const finalizers = metadata['finalizers']
  if (finalizers !== undefined && finalizers !== null) {
    if (!Array.isArray(finalizers)) errors.push(fieldInvalid('metadata.finalizers', finalizers, 'must be a list of strings'))
    else {
      finalizers.forEach((finalizer, index) => {
        const at = `metadata.finalizers[${index}]`
        if (typeof finalizer !== 'string') errors.push(fieldInvalid(at, finalizer, 'must be a string'))
        else for (const detail of qualifiedNameErrors(finalizer)) errors.push(fieldInvalid(at, finalizer, detail))
      })
    }
  }
  return errors
}

/**
 * Checks the metadata of an object to create.
 * @throws ApiError 400 when its namespace disagrees with the URL, 422 when its metadata is invalid.
 */
export function validateNewObjectMeta(resource: ResourceRef, object: JsonObject, pathNamespace: string | undefined): void {
  checkNamespaceMatches(resource, object, pathNamespace)
  const errors = metadataErrors(object)
  if (errors.length > 0) throw invalid({ group: resource.group, kind: resource.kind }, String(metadataOf(object)['name'] ?? ''), errors)
}

/**
 * Checks an update (PUT, or the result of a PATCH) of `current` to `next` at the URL's name and
 * namespace.
 * @throws ApiError 400 when name or namespace disagree with the URL; 422 when metadata is invalid,
 *   uid or deletionTimestamp changed, or finalizers were added to an object being deleted.
 */
export function validateObjectMetaUpdate(resource: ResourceRef, current: JsonObject, next: JsonObject, url: { name: string; namespace: string | undefined }): void {
  checkNameMatches(next, url.name)
  checkNamespaceMatches(resource, next, url.namespace)
  const metadata = metadataOf(next)
  const currentMetadata = metadataOf(current)
  const errors = metadataErrors(next)
  const uid = metadata['uid']
  if (uid !== undefined && uid !== null && uid !== '' && uid !== currentMetadata['uid']) errors.push(fieldInvalid('metadata.uid', uid, 'field is immutable'))
  const deletionTimestamp = metadata['deletionTimestamp']
  if (deletionTimestamp !== undefined && deletionTimestamp !== null && !isBeingDeleted(current)) {
    errors.push(fieldInvalid('metadata.deletionTimestamp', deletionTimestamp, 'field is immutable; it is set only by deleting the object'))
  }
  if (isBeingDeleted(current)) {
    const added = addedFinalizers(current, next)
    if (added.length > 0) {
      errors.push(fieldForbidden('metadata.finalizers', `no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`))
    }
  }
  if (errors.length > 0) throw invalid({ group: resource.group, kind: resource.kind }, url.name, errors)
}

