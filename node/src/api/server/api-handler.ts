/**
 * The Kubernetes REST surface on every daemon: discovery, OpenAPI, health, and the verbs (get,
 * list, watch, create, update, patch, delete, deletecollection, and the scale, status and
 * finalize subresources) for every registered resource, stored through ObjectStore. Errors leave
 * as Kubernetes `Status` objects.
 *
 * This module only routes; each job has its module:
 *   request-body.ts, request-options.ts   reading bodies and query parameters (400/413/415)
 *   selection.ts                          label and field selectors per resource
 *   object-reads.ts, object-writes.ts     get/list, create/replace/patch
 *   object-apply.ts, field-managers.ts    server-side apply; managedFields of every write
 *   patchers.ts                           one function per PATCH Content-Type
 *   delete-requests.ts, deletion.ts       DELETE, finalizers, propagation, namespace termination
 *   garbage-collection.ts                 the pure plan of what a deletion does to dependents
 *   watch-stream.ts, watch-encoding.ts    watch streams, bookmarks, selector transitions, Tables
 *   subresources.ts                       scale, status, finalize
 *   ../streaming/pod-subresources.ts      pods' log, exec, attach, portforward (also upgrades)
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { apiGroupDocument, apiGroupListDocument, apiResourceListDocument, apiVersionsDocument, versionDocument } from '../discovery/documents.ts'
import { resolveResource, splitApiPath, type ResourceTarget } from '../discovery/resolve.ts'
import { BUILTIN_REGISTRY, type ResourceDefinition, type ResourceRegistry } from '../discovery/resources.ts'
import type { JsonObject } from '../machinery/canonical.ts'
import { ApiError, badRequest, methodNotAllowed, pathNotFound, toApiError, toStatus } from '../machinery/status.ts'
import { OpenApiDocuments } from '../openapi/openapi.ts'
import { deleteMatching, deleteOne } from './delete-requests.ts'
import { ensureDefaultStorageClass } from './default-storage-class.ts'
import { Deletion } from './deletion.ts'
import type { MetricsApi } from './metrics-api.ts'
import { getObject, listObjects } from './object-reads.ts'
import type { ObjectStore, ResourceRef } from './object-store.ts'
import { applyObject } from './object-apply.ts'
import { createObject, patchObject, replaceObject, type WriteRequest } from './object-writes.ts'
import { patchTypeFor } from './patchers.ts'
import { NAMESPACES, refOf, storedResources } from './resource-refs.ts'
import { booleanParameter } from './request-options.ts'
import { parseRequestTarget } from './request-target.ts'
import { sendJson, sendRefusalOfUnreadBody, tableRequestOf } from './responses.ts'
import { selectionOf } from './selection.ts'
import { serveFinalize, serveScale, serveStatus, type SubresourceRequest } from './subresources.ts'
import { WatchEventEncoder } from './watch-encoding.ts'
import { WATCH_BOOKMARK_INTERVAL_MS_DEFAULT, serveWatch } from './watch-stream.ts'
import type { PodStreams } from '../streaming/pod-streams.ts'
import { STREAMING_SUBRESOURCES, servePodSubresource, upgradePodSubresource, writeUpgradeRefusal, type PodSubresourceContext } from '../streaming/pod-subresources.ts'

/** Namespaces every cluster has, created by the first node (as kube-apiserver does). */
export const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease']

export interface ApiHandlerOptions {
  readonly objects: ObjectStore
  readonly registry?: ResourceRegistry
  /** host:port clients should use (for /api's serverAddressByClientCIDRs). */
  readonly serverAddress: string
  /** How often watches that allow bookmarks get one (default 10 s; tests shorten it). */
  readonly watchBookmarkIntervalMs?: number
  /** Encodes watch events once for all streams (default: one of its own; tests read its stats). */
  readonly watchEventEncoder?: WatchEventEncoder
  /**
   * Where failures nobody can be told about go (garbage collection after a delete, the details of
   * a 500); default stderr.
   */
  readonly log?: (line: string) => void
  /**
   * The streams (logs, exec, attach, port-forward) of a pod, from the provider of the pod's node.
   * Without it those subresources answer 503 ServiceUnavailable.
   */
  readonly podStreamsFor?: (pod: JsonObject) => PodStreams
  /** Serves metrics.k8s.io (read-only, from the agents' records); without it the group is absent. */
  readonly metrics?: MetricsApi
}

export class ApiHandler {
  private readonly objects: ObjectStore
  private readonly registry: ResourceRegistry
  private readonly serverAddress: string
  private readonly deletion: Deletion
  private readonly watchBookmarkIntervalMs: number
  private readonly log: (line: string) => void
  private readonly watchEncoder: WatchEventEncoder
  private openApi: OpenApiDocuments | undefined
  private readonly podSubresources: PodSubresourceContext
  private readonly metrics: MetricsApi | undefined

  constructor(options: ApiHandlerOptions) {
    this.objects = options.objects
    this.registry = options.registry ?? BUILTIN_REGISTRY
    this.serverAddress = options.serverAddress
    this.watchBookmarkIntervalMs = options.watchBookmarkIntervalMs ?? WATCH_BOOKMARK_INTERVAL_MS_DEFAULT
    this.watchEncoder = options.watchEventEncoder ?? new WatchEventEncoder()
    // Without a log the daemon's stderr still shows collection failures rather than losing them.
    this.log = options.log ?? ((line: string) => console.error(`api: ${line}`))
    this.deletion = new Deletion({ objects: this.objects, resources: storedResources(this.registry), log: this.log })
    this.podSubresources = { objects: this.objects, podStreamsFor: options.podStreamsFor, log: this.log, nowMs: () => Date.now() }
    this.metrics = options.metrics
  }

  /** Creates the system namespaces that do not exist yet (idempotent; run by the founding node). */
  async ensureSystemNamespaces(): Promise<void> {
    for (const name of SYSTEM_NAMESPACES) {
      await this.objects.create(NAMESPACES, undefined, { metadata: { name }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } }).catch((error: { code?: number }) => {
        if (error.code !== 409) throw error
      })
    }
  }

  /** Creates the default StorageClass `local-path` unless it exists (idempotent; run by the founding node). */
  ensureDefaultStorageClass(): Promise<void> {
    return ensureDefaultStorageClass(this.objects)
  }

  /** Handles one request; never throws (errors become Status responses). */
  async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    try {
      await this.route(request, response)
    } catch (error) {
      const status = toStatus(error)
      // The client is told only that something went wrong; the details are for the operator.
      if (!(error instanceof ApiError) && status.code === 500) this.log(`${String(request.method)} ${String(request.url)}: ${(error as Error)?.stack ?? String(error)}`)
      if (response.headersSent) {
        response.end()
        return
      }
      // A body left unread (refused before or while reading it) must not be parsed as the next request.
      if (!request.complete) return sendRefusalOfUnreadBody(request, response, status.code, status)
      sendJson(response, status.code, status)
    }
  }

  /**
   * Handles a request that asks for a connection upgrade (the HTTP server's 'upgrade' event):
   * exec, attach and portforward of pods switch to SPDY/3.1 or WebSocket; anything else is
   * refused. Never throws (refusals are written on the socket as Status responses).
   */
  async handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    try {
      const { path, url } = parseRequestTarget(request.url ?? '/')
      const segments = splitApiPath(path)
      const resolved = segments === undefined ? undefined : resolveResource(segments, this.registry)
      if (resolved === undefined || !resolved.ok) throw pathNotFound()
      const { definition, namespace, name, subresource } = resolved.target
      const isPodStream = definition.group === '' && definition.name === 'pods' && namespace !== undefined && name !== undefined && subresource !== undefined && STREAMING_SUBRESOURCES.has(subresource)
      if (!isPodStream) throw badRequest(`${path} does not accept a connection upgrade`)
      await upgradePodSubresource(this.podSubresources, { resource: refOf(definition), namespace, name, subresource, url }, request, socket, head)
    } catch (error) {
      writeUpgradeRefusal(socket, toApiError(error).toStatus())
    }
  }

  private async route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const { path, url } = parseRequestTarget(request.url ?? '/')
    if (this.metrics?.serves(path) === true) return this.metrics.serve(request, response, path, url)
    if (request.method === 'GET' || request.method === 'HEAD') {
      const document = this.discovery(path, request.headers.accept)
      if (document !== undefined) {
        if (document instanceof Uint8Array) {
          response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': document.byteLength })
          response.end(document)
        } else if (typeof document === 'string') {
          response.writeHead(200, { 'content-type': 'text/plain' })
          response.end(document)
        } else {
          sendJson(response, 200, document)
        }
        return
      }
    }
    const segments = splitApiPath(path)
    if (segments === undefined) throw badRequest(`malformed path ${path}`)
    const resolved = resolveResource(segments, this.registry)
    if (!resolved.ok) throw pathNotFound()
    await this.resourceRequest(resolved.target, request, response, url)
  }

  /** Discovery, OpenAPI and health documents; undefined when the path is not one of them. */
  private discovery(path: string, accept: string | undefined): unknown {
    if (path === '/healthz' || path === '/readyz' || path === '/livez') return 'ok'
    if (path === '/version') return versionDocument()
    if (path === '/api') return apiVersionsDocument(this.registry, this.serverAddress)
    if (path === '/apis') return apiGroupListDocument(this.registry, this.metrics === undefined ? [] : [this.metrics.apiGroup])
    if (path === '/openapi/v2' || path === '/swagger-2.0.0.pb-v1') {
      this.openApi ??= new OpenApiDocuments(this.allResources())
      const body = this.openApi.select(accept)
      return body.contentType === 'application/octet-stream' ? body.body : JSON.parse(new TextDecoder().decode(body.body))
    }
    const core = /^\/api\/v1$/.exec(path)
    if (core !== null) return apiResourceListDocument(this.registry, '', 'v1')
    const groupVersion = /^\/apis\/([^/]+)\/([^/]+)$/.exec(path)
    if (groupVersion !== null) return apiResourceListDocument(this.registry, groupVersion[1]!, groupVersion[2]!)
    const group = /^\/apis\/([^/]+)$/.exec(path)
    if (group !== null) return apiGroupDocument(this.registry, group[1]!)
    return undefined
  }

  private allResources(): readonly ResourceDefinition[] {
    return this.registry.groupVersions().flatMap((groupVersion) => this.registry.resourcesOf(groupVersion.group, groupVersion.version) ?? [])
  }

  private async resourceRequest(target: ResourceTarget, request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
    const resource: ResourceRef = refOf(target.definition)
    const { namespace, name, subresource } = target
    if (subresource !== undefined && name !== undefined) {
      const context = { objects: this.objects, deletion: this.deletion }
      const subrequest: SubresourceRequest = { resource, namespace, name, request, response, url }
      if (subresource === 'scale') return serveScale(context, subrequest)
      if (subresource === 'status') return serveStatus(context, subrequest)
      if (subresource === 'finalize') return serveFinalize(context, subrequest)
      if (resource.group === '' && resource.resource === 'pods' && namespace !== undefined && STREAMING_SUBRESOURCES.has(subresource)) {
        return servePodSubresource(this.podSubresources, { resource, namespace, name, subresource, url }, request, response)
      }
    }
    if (subresource !== undefined) throw methodNotAllowed(resource, `${String(request.method)} on subresource ${subresource}`)
    const write: WriteRequest = {
      resource,
      namespace,
      keepStatus: target.definition.subresources.some((candidate) => candidate.name === 'status'),
      request,
      response,
      url,
    }
    const context = { objects: this.objects, deletion: this.deletion }
    if (name === undefined) {
      switch (request.method) {
        case 'GET':
          if (booleanParameter(url, 'watch')) return this.watch(resource, namespace, '', request, response, url)
          return listObjects(this.objects, resource, namespace, selectionOf(resource, url), request, response, url)
        case 'POST':
          return createObject(context, write)
        case 'DELETE':
          if (!target.definition.verbs.includes('deletecollection')) throw methodNotAllowed(resource, 'deletecollection')
          return deleteMatching(context, resource, namespace, selectionOf(resource, url), request, response, url)
        default:
          throw methodNotAllowed(resource, `${String(request.method)} on a collection`)
      }
    }
    switch (request.method) {
      case 'GET':
        // A watch on one object's URL is a watch of the collection narrowed to its name.
        if (booleanParameter(url, 'watch')) return this.watch(resource, namespace, `metadata.name=${escapeFieldValue(name)}`, request, response, url)
        return getObject(this.objects, resource, namespace, name, request, response, url)
      case 'PUT':
        return replaceObject(context, write, name)
      case 'PATCH': {
        const type = patchTypeFor(request.headers['content-type'])
        return type === 'apply' ? applyObject(context, write, name) : patchObject(context, write, name, type)
      }
      case 'DELETE':
        return deleteOne(this.deletion, resource, namespace, name, request, response, url)
      default:
        throw methodNotAllowed(resource, String(request.method))
    }
  }

  private watch(resource: ResourceRef, namespace: string | undefined, extraFieldSelector: string, request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
    const target = { resource, namespace, selection: selectionOf(resource, url, extraFieldSelector), table: tableRequestOf(request, url) }
    return serveWatch({ objects: this.objects, bookmarkIntervalMs: this.watchBookmarkIntervalMs, encoder: this.watchEncoder }, target, response, url)
  }
}

/** A field selector value with its special characters escaped. */
function escapeFieldValue(value: string): string {
  return value.replace(/[\\,=]/g, (character) => `\\${character}`)
}
