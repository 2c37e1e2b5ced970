/**
 * DELETE requests: one object, or a collection (deletecollection, with selectors). The options
 * come from the DeleteOptions body (JSON or YAML) and the query (delete-options.ts); what
 * deleting means is deletion.ts.
 *
 * Answers, as kube-apiserver gives them: an object removed at once gets a `Status` of Success
 * naming it; an object that stays until its finalizers have run (or a namespace, which turns
 * Terminating) is returned as marked, with its deletionTimestamp; a collection returns the list
 * of what was deleted or marked.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { JsonObject } from '../machinery/canonical.ts'
import { successStatus } from '../machinery/status.ts'
import { deleteOptionsOf, type DeleteRequestOptions } from './delete-options.ts'
import type { Deletion } from './deletion.ts'
import { metadataOf, type ObjectStore, type ResourceRef } from './object-store.ts'
import { decodeObjectBody, objectBodyFormat, readBodyText } from './request-body.ts'
import { sendJson } from './responses.ts'
import type { Selection } from './selection.ts'

/** The DeleteOptions of a request: its body when it has one, and its query. */
async function readDeleteOptions(request: IncomingMessage, url: URL): Promise<DeleteRequestOptions> {
  const text = await readBodyText(request)
  const body: JsonObject | undefined = text.trim() === '' ? undefined : decodeObjectBody(text, objectBodyFormat(request.headers['content-type']))
  return deleteOptionsOf(url, body)
}

/** DELETE of one object. */
export async function deleteOne(
  deletion: Deletion,
  resource: ResourceRef,
  namespace: string | undefined,
  name: string,
  request: IncomingMessage,
  response: ServerResponse,
  url: URL,
): Promise<void> {
  const options = await readDeleteOptions(request, url)
  const outcome = await deletion.delete(resource, namespace, name, options)
  if (!outcome.deleted) return sendJson(response, 200, outcome.object)
  const uid = String(metadataOf(outcome.object)['uid'] ?? '')
  sendJson(response, 200, successStatus({ name, ...(resource.group !== '' ? { group: resource.group } : {}), kind: resource.resource, uid }))
}

/** DELETE of a collection: every object the selection matches. */
export async function deleteMatching(
  context: { readonly objects: ObjectStore; readonly deletion: Deletion },
  resource: ResourceRef,
  namespace: string | undefined,
  selection: Selection,
  request: IncomingMessage,
  response: ServerResponse,
  url: URL,
): Promise<void> {
  const options = await readDeleteOptions(request, url)
  const { items } = await context.objects.list(resource, namespace)
  const deleted = await context.deletion.deleteCollection(resource, items.filter((object) => selection.matches(object)), options)
  sendJson(response, 200, { kind: `${resource.kind}List`, apiVersion: resource.apiVersion, metadata: {}, items: deleted })
}
