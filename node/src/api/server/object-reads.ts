/**
 * Reads of a resource's objects: GET of one object and of a collection (a list), as JSON or as
 * the Table `kubectl get` asks for.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { metadataOf, type ObjectStore, type ResourceRef } from './object-store.ts'
import { sendJson, tableOf, tableRequestOf } from './responses.ts'
import type { Selection } from './selection.ts'

/** GET of one object. */
export async function getObject(
  objects: ObjectStore,
  resource: ResourceRef,
  namespace: string | undefined,
  name: string,
  request: IncomingMessage,
  response: ServerResponse,
  url: URL,
): Promise<void> {
  const table = tableRequestOf(request, url)
  const object = await objects.get(resource, namespace, name)
  if (table !== undefined) return sendJson(response, 200, tableOf(resource.kind, [object], String(metadataOf(object)['resourceVersion'] ?? ''), table))
  sendJson(response, 200, object)
}

/**
 * GET of a collection: the objects the selection matches, in key order, under the store revision
 * the list was read at (the resourceVersion a watch continues from).
 */
export async function listObjects(
  objects: ObjectStore,
  resource: ResourceRef,
  namespace: string | undefined,
  selection: Selection,
  request: IncomingMessage,
  response: ServerResponse,
  url: URL,
): Promise<void> {
  const table = tableRequestOf(request, url)
  const { items, revision } = await objects.list(resource, namespace)
  const selected = items.filter((object) => selection.matches(object))
  if (table !== undefined) return sendJson(response, 200, tableOf(resource.kind, selected, String(revision), table))
  sendJson(response, 200, { kind: `${resource.kind}List`, apiVersion: resource.apiVersion, metadata: { resourceVersion: String(revision) }, items: selected })
}
