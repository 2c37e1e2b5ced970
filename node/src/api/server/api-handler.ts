/**
 * The Kubernetes REST surface on every daemon: discovery, OpenAPI, health, and the generic verbs
 * (get, list, watch, create, update, patch, delete) for every registered resource, stored through
 * ObjectStore. Errors leave as Kubernetes `Status` objects.
 *
 * Scope today: generic semantics for all resources, with kubectl's columns for the common kinds
 * (table-columns.ts); per-kind validation and defaulting arrive resource by resource.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { apiGroupDocument, apiGroupListDocument, apiResourceListDocument, apiVersionsDocument, versionDocument } from '../discovery/documents.ts'
import { resolveResource, splitApiPath, type ResourceTarget } from '../discovery/resolve.ts'
import { BUILTIN_REGISTRY, type ResourceDefinition, type ResourceRegistry } from '../discovery/resources.ts'
import { isJsonObject, type JsonObject } from '../machinery/canonical.ts'
import { applyPatch, patchTypeFromContentType } from '../machinery/patch.ts'
import { allowFieldLabels, parseFieldSelector, parseLabelSelector } from '../machinery/selectors.ts'
import { fieldInvalid, type FieldError } from '../machinery/field-errors.ts'
import { dns1123SubdomainErrors, generateName, labelValueErrors, qualifiedNameErrors } from '../machinery/names.ts'
import { randomFromEntropy } from '../../../../lib/random.ts'
import { badRequest, invalid, methodNotAllowed, notFound, pathNotFound, requestEntityTooLarge, successStatus, toStatus, resourceVersionTooOld } from '../machinery/status.ts'
import { OpenApiDocuments } from '../openapi/openapi.ts'
import { metadataOf, type ObjectStore, type ResourceRef } from './object-store.ts'
import { applyDefaults, validateKind } from './kinds.ts'
import { buildTable } from './table-columns.ts'

/** Suffixes for generateName; not replayed, so entropy-seeded. */
const NAME_RANDOM = randomFromEntropy()

const NAMESPACES: ResourceRef = { group: '', resource: 'namespaces', kind: 'Namespace', apiVersion: 'v1', namespaced: false }

/** Namespaces every cluster has, created by the first node (as kube-apiserver does). */
export const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease']

/** Request bodies larger than this are refused with 413 (the Kubernetes API server uses 3 MiB). */
const BODY_BYTES_MAX = 3 * 1024 * 1024
const WATCH_BOOKMARK_INTERVAL_MS = 60_000

export interface ApiHandlerOptions {
  readonly objects: ObjectStore
  readonly registry?: ResourceRegistry
  /** host:port clients should use (for /api's serverAddressByClientCIDRs). */
  readonly serverAddress: string
}

export class ApiHandler {
  private readonly objects: ObjectStore
  private readonly registry: ResourceRegistry
  private readonly serverAddress: string
  private openApi: OpenApiDocuments | undefined

  constructor(options: ApiHandlerOptions) {
    this.objects = options.objects
    this.registry = options.registry ?? BUILTIN_REGISTRY
    this.serverAddress = options.serverAddress
  }

  /** Creates the system namespaces that do not exist yet (idempotent; run by the founding node). */
  async ensureSystemNamespaces(): Promise<void> {
    for (const name of SYSTEM_NAMESPACES) {
      await this.objects.create(NAMESPACES, undefined, { metadata: { name }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } }).catch((error: { code?: number }) => {
        if (error.code !== 409) throw error
      })
    }
  }

  /** Handles one request; never throws (errors become Status responses). */
  async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    try {
      await this.route(request, response)
    } catch (error) {
      const status = toStatus(error)
      if (!response.headersSent) sendJson(response, status.code, status)
      else response.end()
    }
  }

  private async route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://api')
    const path = url.pathname.replace(/\/+$/, '') || '/'
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
    if (path === '/apis') return apiGroupListDocument(this.registry)
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
    const resource: ResourceRef = {
      group: target.group,
      resource: target.resource,
      kind: target.definition.kind,
      apiVersion: target.group === '' ? target.version : `${target.group}/${target.version}`,
      namespaced: target.namespaced,
    }
    if (target.subresource === 'scale' && target.name !== undefined) return this.scale(resource, target.namespace, target.name, request, response, url)
    if (target.subresource === 'status' && target.name !== undefined) return this.status(resource, target.namespace, target.name, request, response, url)
    if (target.subresource !== undefined) throw methodNotAllowed(resource, `${request.method} on subresource ${target.subresource}`)
    const dryRun = url.searchParams.getAll('dryRun').includes('All')
    const namespace = target.namespace
    if (target.name === undefined) {
      if (request.method === 'GET' && url.searchParams.get('watch') === 'true') return this.watch(resource, namespace, request, response, url)
      if (request.method === 'GET') return this.list(resource, namespace, request, response, url)
      if (request.method === 'POST') {
        const body = await readJsonObject(request)
        const metadata = metadataOf(body)
        const named = typeof metadata['name'] === 'string' && metadata['name'] !== '' ? body : withGeneratedName(body)
        validateObjectMeta(resource, named, namespace)
        const defaulted = this.admit(resource, named)
        const targetNamespace = namespace ?? stringOr(metadata['namespace']) ?? 'default'
        if (resource.namespaced) await this.requireNamespace(targetNamespace)
        const created = await this.objects.create(resource, namespace ?? stringOr(metadata['namespace']), defaulted, { dryRun })
        return sendJson(response, 201, created)
      }
      if (request.method === 'DELETE') {
        // deletecollection: every object the selectors match.
        const filter = this.filterOf(url)
        const { items } = await this.objects.list(resource, namespace)
        const deleted: JsonObject[] = []
        for (const item of items.filter(filter)) {
          const metadata = metadataOf(item)
          deleted.push(await this.objects.delete(resource, stringOr(metadata['namespace']), String(metadata['name']), { dryRun }))
        }
        return sendJson(response, 200, { kind: `${resource.kind}List`, apiVersion: resource.apiVersion, metadata: {}, items: deleted })
      }
      throw methodNotAllowed(resource, `${request.method} on a collection`)
    }
    const name = target.name
    const keepStatus = target.definition.subresources.some((subresource) => subresource.name === 'status')
    switch (request.method) {
      case 'GET': {
        const object = await this.objects.get(resource, namespace, name)
        if (wantsTable(request.headers.accept)) {
          const metadata = metadataOf(object)
          return sendJson(response, 200, buildTable(resource.kind, [object], String(metadata['resourceVersion'] ?? ''), Date.now()))
        }
        return sendJson(response, 200, object)
      }
      case 'PUT':
        return sendJson(response, 200, await this.objects.update(resource, namespace, name, this.admit(resource, await readJsonObject(request)), { dryRun, keepStatus }))
      case 'PATCH': {
        const type = patchTypeFromContentType(request.headers['content-type'], ['json', 'merge', 'strategic'])
        const patch = JSON.parse(await readBody(request)) as unknown
        const current = await this.objects.get(resource, namespace, name)
        const patched = this.admit(resource, applyPatch(type as 'json' | 'merge' | 'strategic', current, patch))
        // A patch may carry metadata.resourceVersion (kubectl diff does): then it must match.
        const patchVersion = isJsonObject(patch) && isJsonObject(patch['metadata']) ? patch['metadata']['resourceVersion'] : undefined
        const metadata = metadataOf(patched)
        const expected = patchVersion ?? metadataOf(current)['resourceVersion']
        return sendJson(response, 200, await this.objects.update(resource, namespace, name, { ...patched, metadata: { ...metadata, resourceVersion: expected ?? null } }, { dryRun, keepStatus }))
      }
      case 'DELETE': {
        const options = await readDeleteOptions(request)
        const deleted = await this.objects.delete(resource, namespace, name, { dryRun, ...(options.uid !== undefined ? { uid: options.uid } : {}) })
        if (resource.group === '' && resource.resource === 'namespaces' && !dryRun) await this.deleteNamespaceContents(name)
        const metadata = metadataOf(deleted)
        return sendJson(response, 200, successStatus({ name, ...(resource.group !== '' ? { group: resource.group } : {}), kind: resource.resource, uid: String(metadata['uid'] ?? '') }))
      }
      default:
        throw methodNotAllowed(resource, String(request.method))
    }
  }

  /**
   * The scale subresource (autoscaling/v1 Scale) of workloads: reads and writes `spec.replicas`
   * of the parent, as `kubectl scale` and autoscalers expect.
   */
  private async scale(resource: ResourceRef, namespace: string | undefined, name: string, request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
    const parent = await this.objects.get(resource, namespace, name)
    const toScale = (object: JsonObject): JsonObject => {
      const metadata = metadataOf(object)
      const spec = isJsonObject(object['spec']) ? object['spec'] : {}
      const status = isJsonObject(object['status']) ? object['status'] : {}
      const selector = isJsonObject(spec['selector']) && isJsonObject(spec['selector']['matchLabels']) ? Object.entries(spec['selector']['matchLabels']).map(([key, value]) => `${key}=${String(value)}`).join(',') : ''
      return {
        kind: 'Scale',
        apiVersion: 'autoscaling/v1',
        metadata: { name: metadata['name'] ?? name, namespace: metadata['namespace'] ?? null, uid: metadata['uid'] ?? null, resourceVersion: metadata['resourceVersion'] ?? null, creationTimestamp: metadata['creationTimestamp'] ?? null },
        spec: { replicas: typeof spec['replicas'] === 'number' ? spec['replicas'] : 1 },
        status: { replicas: typeof status['replicas'] === 'number' ? status['replicas'] : 0, selector },
      }
    }
    if (request.method === 'GET') return sendJson(response, 200, toScale(parent))
    if (request.method !== 'PUT' && request.method !== 'PATCH') throw methodNotAllowed(resource, `${request.method} on scale`)
    let desired: JsonObject
    if (request.method === 'PUT') {
      desired = await readJsonObject(request)
    } else {
      const type = patchTypeFromContentType(request.headers['content-type'], ['json', 'merge', 'strategic'])
      desired = applyPatch(type as 'json' | 'merge' | 'strategic', toScale(parent), JSON.parse(await readBody(request)) as unknown)
    }
    const replicas = isJsonObject(desired['spec']) ? desired['spec']['replicas'] : undefined
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
      throw invalid({ group: 'autoscaling', kind: 'Scale' }, name, [fieldInvalid('spec.replicas', replicas ?? null, 'must be greater than or equal to 0')])
    }
    const desiredMetadata = metadataOf(desired)
    const parentMetadata = metadataOf(parent)
    const spec = isJsonObject(parent['spec']) ? parent['spec'] : {}
    const updated = await this.objects.update(
      resource,
      namespace,
      name,
      { ...parent, metadata: { ...parentMetadata, resourceVersion: desiredMetadata['resourceVersion'] ?? parentMetadata['resourceVersion'] ?? null }, spec: { ...spec, replicas } },
      { dryRun: url.searchParams.getAll('dryRun').includes('All') },
    )
    sendJson(response, 200, toScale(updated))
  }

  /** The status subresource: reads the object; writes change only `status` (never spec or metadata). */
  private async status(resource: ResourceRef, namespace: string | undefined, name: string, request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
    const current = await this.objects.get(resource, namespace, name)
    if (request.method === 'GET') return sendJson(response, 200, current)
    let desired: JsonObject
    if (request.method === 'PUT') desired = await readJsonObject(request)
    else if (request.method === 'PATCH') {
      const type = patchTypeFromContentType(request.headers['content-type'], ['json', 'merge', 'strategic'])
      desired = applyPatch(type as 'json' | 'merge' | 'strategic', current, JSON.parse(await readBody(request)) as unknown)
    } else throw methodNotAllowed(resource, `${request.method} on status`)
    const desiredMetadata = metadataOf(desired)
    const currentMetadata = metadataOf(current)
    const next: JsonObject = { ...current, status: desired['status'] ?? null, metadata: { ...currentMetadata, resourceVersion: desiredMetadata['resourceVersion'] ?? currentMetadata['resourceVersion'] ?? null } }
    sendJson(response, 200, await this.objects.update(resource, namespace, name, next, { dryRun: url.searchParams.getAll('dryRun').includes('All') }))
  }

  /** Defaults an object for its kind and rejects it with 422 Invalid when it breaks the kind's rules. */
  private admit(resource: ResourceRef, object: JsonObject): JsonObject {
    const defaulted = applyDefaults(resource.kind, object)
    const errors = validateKind(resource.kind, defaulted)
    if (errors.length > 0) {
      const metadata = metadataOf(defaulted)
      throw invalid({ group: resource.group, kind: resource.kind }, String(metadata['name'] ?? ''), errors)
    }
    return defaulted
  }

  /** Namespaced objects can only be created in a namespace that exists (404 otherwise). */
  private async requireNamespace(name: string): Promise<void> {
    try {
      await this.objects.get(NAMESPACES, undefined, name)
    } catch (error) {
      if ((error as { code?: number }).code === 404) throw notFound({ group: '', resource: 'namespaces' }, name)
      throw error
    }
  }

  /** Deleting a namespace deletes everything in it, resource by resource. */
  private async deleteNamespaceContents(namespace: string): Promise<void> {
    for (const definition of this.allResources()) {
      if (!definition.namespaced) continue
      const resource: ResourceRef = { group: definition.group, resource: definition.name, kind: definition.kind, apiVersion: definition.group === '' ? definition.version : `${definition.group}/${definition.version}`, namespaced: true }
      const { items } = await this.objects.list(resource, namespace)
      for (const item of items) {
        const metadata = metadataOf(item)
        await this.objects.delete(resource, namespace, String(metadata['name'])).catch((error: { code?: number }) => {
          // Someone else deleted it meanwhile: that is the goal anyway.
          if (error.code !== 404 && error.code !== 409) throw error
        })
      }
    }
  }

  private async list(resource: ResourceRef, namespace: string | undefined, request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
    const filter = this.filterOf(url)
    const { items, revision } = await this.objects.list(resource, namespace)
    const selected = items.filter(filter)
    if (wantsTable(request.headers.accept)) return sendJson(response, 200, buildTable(resource.kind, selected, String(revision), Date.now()))
    sendJson(response, 200, { kind: `${resource.kind}List`, apiVersion: resource.apiVersion, metadata: { resourceVersion: String(revision) }, items: selected })
  }

  private filterOf(url: URL): (object: JsonObject) => boolean {
    const labels = parseLabelSelector(url.searchParams.get('labelSelector') ?? '')
    const fields = parseFieldSelector(url.searchParams.get('fieldSelector') ?? '', allowFieldLabels(['spec.nodeName', 'status.phase', 'involvedObject.name', 'involvedObject.namespace', 'involvedObject.kind', 'involvedObject.uid']))
    return (object) => {
      const metadata = metadataOf(object)
      return labels.matches(metadata['labels'] as Record<string, string> | undefined) && fields.matches(object)
    }
  }

  /** NDJSON watch: events after `resourceVersion` (or from now), flushed as they happen. */
  private async watch(resource: ResourceRef, namespace: string | undefined, request: IncomingMessage, response: ServerResponse, url: URL): Promise<void> {
    const filter = this.filterOf(url)
    const requested = url.searchParams.get('resourceVersion')
    let fromRevision: number
    const initial: JsonObject[] = []
    if (requested === null || requested === '' || requested === '0') {
      // No version: start with the current state as ADDED events, then follow changes.
      const { items, revision } = await this.objects.list(resource, namespace)
      initial.push(...items.filter(filter))
      fromRevision = revision + 1
    } else {
      fromRevision = Number(requested) + 1
      if (!Number.isSafeInteger(fromRevision)) throw badRequest(`invalid resourceVersion "${requested}"`)
    }
    response.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' })
    response.flushHeaders()
    for (const object of initial) response.write(`${JSON.stringify({ type: 'ADDED', object })}\n`)
    const timeoutSeconds = Number(url.searchParams.get('timeoutSeconds') ?? 1800)
    await new Promise<void>((resolve) => {
      const cancel = this.objects.watch(
        resource,
        namespace,
        fromRevision,
        (type, object) => {
          if (filter(object)) response.write(`${JSON.stringify({ type, object })}\n`)
        },
        (error) => {
          const status = toStatus(error.name === 'CompactedError' ? resourceVersionTooOld(fromRevision - 1, 'compacted') : error)
          response.write(`${JSON.stringify({ type: 'ERROR', object: status })}\n`)
          finish()
        },
      )
      const timer = setTimeout(() => finish(), Math.max(1, Math.min(timeoutSeconds, 3600)) * 1000)
      const bookmarks = setInterval(() => response.write(''), WATCH_BOOKMARK_INTERVAL_MS)
      let finished = false
      function finish(): void {
        if (finished) return
        finished = true
        cancel()
        clearTimeout(timer)
        clearInterval(bookmarks)
        response.end()
        resolve()
      }
      request.on('close', finish)
    })
  }
}

/**
 * Generic metadata validation every kind shares: a DNS-1123 subdomain name, a namespace that
 * matches the path, labels that are valid keys and values. Invalid objects get 422 Invalid.
 */
function validateObjectMeta(resource: ResourceRef, object: JsonObject, pathNamespace: string | undefined): void {
  const metadata = metadataOf(object)
  const name = String(metadata['name'] ?? '')
  const errors: FieldError[] = dns1123SubdomainErrors(name).map((detail) => fieldInvalid('metadata.name', name, detail))
  const namespace = metadata['namespace']
  if (resource.namespaced && pathNamespace !== undefined && typeof namespace === 'string' && namespace !== pathNamespace) {
    errors.push(fieldInvalid('metadata.namespace', namespace, 'the namespace of the provided object does not match the namespace sent on the request'))
  }
  const labels = isJsonObject(metadata['labels']) ? metadata['labels'] : {}
  for (const [key, value] of Object.entries(labels)) {
    for (const detail of qualifiedNameErrors(key)) errors.push(fieldInvalid('metadata.labels', key, detail))
    for (const detail of labelValueErrors(String(value))) errors.push(fieldInvalid(`metadata.labels`, value, detail))
  }
  if (errors.length > 0) throw invalid({ group: resource.group, kind: resource.kind }, name, errors)
}

function stringOr(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined
}

function withGeneratedName(body: JsonObject): JsonObject {
  const metadata = metadataOf(body)
  const prefix = metadata['generateName']
  if (typeof prefix !== 'string' || prefix === '') throw badRequest('metadata.name or metadata.generateName is required')
  return { ...body, metadata: { ...metadata, name: generateName(prefix, NAME_RANDOM) } }
}

function wantsTable(accept: string | undefined): boolean {
  return accept !== undefined && /as=Table/.test(accept)
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of request as AsyncIterable<Buffer>) {
    total += chunk.byteLength
    if (total > BODY_BYTES_MAX) throw requestEntityTooLarge(`request body larger than ${BODY_BYTES_MAX} bytes`)
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

async function readJsonObject(request: IncomingMessage): Promise<JsonObject> {
  const text = await readBody(request)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    throw badRequest(`the request body is not valid JSON: ${(error as Error).message}`)
  }
  if (!isJsonObject(value)) throw badRequest('the request body must be a JSON object')
  return value
}

async function readDeleteOptions(request: IncomingMessage): Promise<{ uid?: string }> {
  const text = await readBody(request)
  if (text.trim() === '') return {}
  try {
    const options = JSON.parse(text) as { preconditions?: { uid?: string } }
    return options.preconditions?.uid !== undefined ? { uid: options.preconditions.uid } : {}
  } catch {
    throw badRequest('the DeleteOptions body is not valid JSON')
  }
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  response.end(text)
}
