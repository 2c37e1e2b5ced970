/**
 * Reads of a resource's objects: GET of one object and of a collection (a list), as JSON or as
 * the Table `kubectl get` asks for.
 *
 * Versions (list-options.ts parses them). This server keeps only the current state of objects
 * (and a bounded history of changes for watches), so:
 * - a get or list without resourceVersion, with `0`, or with a revision N matched NotOlderThan
 *   serves the current state; N newer than the store is 504 Timeout `Too large resource version`
 *   (kube-apiserver waits a little for it first, then answers the same);
 * - a list with `resourceVersionMatch=Exact` at N serves the current state as of N when nothing in
 *   the collection changed since N; when something did (the state at N is gone) or the history no
 *   longer reaches N, it is 410 Expired, and clients list again without a version.
 *
 * Pages (`limit`, `continue`): items come in key order; a page that stops early carries a continue
 * token holding the first page's revision and the next key. A later page shows the objects as
 * they are now, from that key on, under the first page's revision; a watch from that revision
 * therefore replays anything that changed meanwhile rather than missing it. (kube-apiserver serves
 * every page at the first page's revision; we cannot read the past.) A token whose revision the
 * store has compacted is 410 Expired, as there.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { JsonObject } from '../machinery/canonical.ts'
import { expired, resourceVersionTooOld, timeout } from '../machinery/status.ts'
import { encodeContinueToken, listOptionsOf, resourceVersionRequestOf, type ListOptions } from './list-options.ts'
import { collectionPrefix, metadataOf, objectKey, type ObjectStore, type ResourceRef } from './object-store.ts'
import { sendJson, tableOf, tableRequestOf } from './responses.ts'
import type { Selection } from './selection.ts'

/** How long a client should wait before asking again for a revision the store has not reached. */
const TOO_LARGE_RETRY_AFTER_SECONDS = 1

/** kube-apiserver's words for a continue token whose revision was compacted. */
export const CONTINUE_EXPIRED_MESSAGE =
  'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.'

/** 504 for a version the store has not reached. */
function tooLargeResourceVersion(requested: number, current: number): Error {
  return timeout(`Too large resource version: ${requested}, current: ${current}`, TOO_LARGE_RETRY_AFTER_SECONDS)
}

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
  const version = resourceVersionRequestOf(url, { allowMatch: false })
  const object = await objects.get(resource, namespace, name)
  if (version.kind === 'revision' && version.revision > objects.revision()) throw tooLargeResourceVersion(version.revision, objects.revision())
  if (table !== undefined) return sendJson(response, 200, tableOf(resource.kind, [object], String(metadataOf(object)['resourceVersion'] ?? ''), table))
  sendJson(response, 200, object)
}

/**
 * GET of a collection: the objects the selection matches, in key order, under the store revision
 * the list was read at (the resourceVersion a watch continues from), a page at a time when asked.
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
  const options = listOptionsOf(url)
  const { items, revision } = await objects.list(resource, namespace)
  const listRevision = await listRevisionOf(objects, { resource, namespace }, options, revision)
  const prefixLength = collectionPrefix(resource, namespace).length
  const keyOf = (object: JsonObject): string => {
    const metadata = metadataOf(object)
    return objectKey(resource, typeof metadata['namespace'] === 'string' ? metadata['namespace'] : undefined, String(metadata['name'] ?? '')).slice(prefixLength)
  }
  const start = options.continueFrom?.start
  const selected = items.filter((object) => (start === undefined || keyOf(object) >= start) && selection.matches(object))
  const page = options.limit === undefined ? selected : selected.slice(0, options.limit)
  const last = page[page.length - 1]
  const more = page.length < selected.length && last !== undefined
  const metadata: JsonObject = {
    resourceVersion: String(listRevision),
    // The next page starts at the smallest key after the last one served (as kube-apiserver's do).
    ...(more ? { continue: encodeContinueToken({ revision: listRevision, start: `${keyOf(last)}\u0000` }) } : {}),
    ...(more && selection.isEverything() ? { remainingItemCount: selected.length - page.length } : {}),
  }
  if (table !== undefined) {
    const built = tableOf(resource.kind, page, String(listRevision), table)
    return sendJson(response, 200, { ...built, metadata })
  }
  sendJson(response, 200, { kind: `${resource.kind}List`, apiVersion: resource.apiVersion, metadata, items: page })
}

/**
 * The revision a list answers under (see the module comment), given the store's revision now.
 * @throws ApiError 410 Expired for a compacted continue token or an Exact version that is gone;
 *   504 Timeout for a version newer than the store.
 */
async function listRevisionOf(
  objects: ObjectStore,
  collection: { readonly resource: ResourceRef; readonly namespace: string | undefined },
  options: ListOptions,
  current: number,
): Promise<number> {
  if (options.continueFrom !== undefined) {
    const { revision } = options.continueFrom
    if (revision > current) throw tooLargeResourceVersion(revision, current)
    if ((await objects.historyAfter(undefined, revision, current)) === 'compacted') throw expired(CONTINUE_EXPIRED_MESSAGE)
    return revision
  }
  const version = options.version
  if (version.kind !== 'revision') return current
  if (version.revision > current) throw tooLargeResourceVersion(version.revision, current)
  if (version.match === 'NotOlderThan' || version.revision === current) return current
  const history = await objects.historyAfter(collection, version.revision, current)
  if (history === 'unchanged') return version.revision
  throw resourceVersionTooOld(version.revision, current)
}
