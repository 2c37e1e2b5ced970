/**
 * A throwaway Kubernetes API server for client-compatibility tests: it serves the real discovery
 * documents and OpenAPI protobuf from node/src/api, and keeps objects in memory with just enough
 * semantics for `kubectl apply` / `diff` of simple objects: GET (404 Status when absent), list
 * (a plain List, no Table), POST
 * (201, metadata filled in), PATCH as a JSON merge patch (enough for ConfigMaps and for the
 * fields these tests change), `dryRun=All` and a resourceVersion precondition. Everything else is
 * a 404 Status. Every request is recorded for assertions. Plain HTTP on 127.0.0.1.
 */
import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  apiGroupDocument,
  apiGroupListDocument,
  apiResourceListDocument,
  apiVersionsDocument,
  versionDocument,
} from '../../../node/src/api/discovery/documents.ts'
import { resolveResource, splitApiPath } from '../../../node/src/api/discovery/resolve.ts'
import { BUILTIN_REGISTRY, groupVersionString } from '../../../node/src/api/discovery/resources.ts'
import { OpenApiDocuments } from '../../../node/src/api/openapi/openapi.ts'

export interface RecordedRequest {
  method: string
  path: string
  query: URLSearchParams
  accept: string | undefined
  contentType: string | undefined
  body: string
  status: number
  responseType: string
}

type Json = Record<string, unknown>

export interface FakeApiServer {
  readonly url: string
  readonly requests: RecordedRequest[]
  /** Stored objects by `namespace/resource/name` (cluster-scoped: `/resource/name`). */
  readonly objects: Map<string, Json>
  close(): Promise<void>
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** RFC 7386 JSON merge patch; `$`-directives of strategic merge patches are dropped. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch
  const out: Json = isObject(target) ? { ...target } : {}
  for (const [key, value] of Object.entries(patch)) {
    if (key.startsWith('$')) continue
    if (value === null) delete out[key]
    else out[key] = mergePatch(out[key], value)
  }
  return out
}

export async function startFakeApiServer(): Promise<FakeApiServer> {
  const openApi = new OpenApiDocuments(BUILTIN_REGISTRY.resources)
  const requests: RecordedRequest[] = []
  const objects = new Map<string, Json>()
  let resourceVersion = 100
  let address = ''

  function handle(req: IncomingMessage, body: string): { status: number; type: string; payload: string | Uint8Array } {
    const json = (status: number, value: unknown): { status: number; type: string; payload: string } => ({ status, type: 'application/json', payload: JSON.stringify(value) })
    const status = (code: number, reason: string, message: string, details?: Json): { status: number; type: string; payload: string } =>
      json(code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code })
    const url = new URL(req.url ?? '/', 'http://localhost')
    const segments = splitApiPath(url.pathname) ?? []
    const path = url.pathname
    if (req.method === 'GET') {
      if (path === '/version') return json(200, versionDocument())
      if (path === '/api') return json(200, apiVersionsDocument(BUILTIN_REGISTRY, address))
      if (path === '/apis') return json(200, apiGroupListDocument(BUILTIN_REGISTRY))
      if (path === '/openapi/v2') {
        const variant = openApi.select(req.headers.accept)
        return { status: 200, type: variant.contentType, payload: variant.body }
      }
      if (segments[0] === 'apis' && segments.length === 2) {
        const group = apiGroupDocument(BUILTIN_REGISTRY, segments[1] ?? '')
        if (group !== undefined) return json(200, group)
      }
      const discovery = segments[0] === 'api' && segments.length === 2
        ? apiResourceListDocument(BUILTIN_REGISTRY, '', segments[1] ?? '')
        : segments[0] === 'apis' && segments.length === 3 ? apiResourceListDocument(BUILTIN_REGISTRY, segments[1] ?? '', segments[2] ?? '') : undefined
      if (discovery !== undefined) return json(200, discovery)
    }
    const resolved = resolveResource(segments)
    if (!resolved.ok) return status(404, 'NotFound', 'the server could not find the requested resource')
    const { group, version, resource, namespace, name, subresource, definition } = resolved.target
    if (subresource !== undefined) return status(404, 'NotFound', 'the server could not find the requested resource')
    const qualified = group === '' ? resource : `${resource}.${group}`
    const dryRun = url.searchParams.get('dryRun') === 'All'
    const keyOf = (objectName: string): string => `${namespace ?? ''}/${resource}/${objectName}`
    const notFound = (objectName: string): ReturnType<typeof status> =>
      status(404, 'NotFound', `${qualified} "${objectName}" not found`, { name: objectName, ...(group === '' ? {} : { group }), kind: resource })
    const withTypeMeta = (object: Json): Json => ({ ...object, apiVersion: groupVersionString(resolved.target), kind: definition.kind })

    if (req.method === 'GET' && name !== undefined) {
      const stored = objects.get(keyOf(name))
      return stored === undefined ? notFound(name) : json(200, withTypeMeta(stored))
    }
    if (req.method === 'GET' && name === undefined) {
      const prefix = namespace === undefined ? undefined : `${namespace}/${resource}/`
      const items = [...objects].filter(([key]) => prefix === undefined ? key.split('/')[1] === resource : key.startsWith(prefix)).map(([, object]) => object)
      return json(200, { kind: `${definition.kind}List`, apiVersion: groupVersionString(resolved.target), metadata: { resourceVersion: String(resourceVersion) }, items })
    }
    if (req.method === 'POST' && name === undefined && namespace !== undefined) {
      const object = JSON.parse(body) as Json
      const metadata = isObject(object.metadata) ? object.metadata : {}
      const objectName = typeof metadata.name === 'string' ? metadata.name : ''
      if (objects.has(keyOf(objectName))) return status(409, 'AlreadyExists', `${qualified} "${objectName}" already exists`, { name: objectName, kind: resource })
      const created = withTypeMeta({
        ...object,
        metadata: { ...metadata, namespace, uid: randomUUID(), resourceVersion: String(dryRun ? resourceVersion : ++resourceVersion), creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z') },
      })
      if (!dryRun) objects.set(keyOf(objectName), created)
      return json(201, created)
    }
    if (req.method === 'PATCH' && name !== undefined) {
      const stored = objects.get(keyOf(name))
      if (stored === undefined) return notFound(name)
      const patch = JSON.parse(body) as Json
      const precondition = isObject(patch.metadata) ? patch.metadata.resourceVersion : undefined
      const storedMetadata = isObject(stored.metadata) ? stored.metadata : {}
      if (precondition !== undefined && precondition !== storedMetadata.resourceVersion) {
        return status(409, 'Conflict', `Operation cannot be fulfilled on ${qualified} "${name}": the object has been modified; please apply your changes to the latest version and try again`)
      }
      const merged = mergePatch(stored, patch) as Json
      const patched = withTypeMeta({ ...merged, metadata: { ...(isObject(merged.metadata) ? merged.metadata : {}), resourceVersion: String(dryRun ? storedMetadata.resourceVersion : ++resourceVersion) } })
      if (!dryRun) objects.set(keyOf(name), patched)
      return json(200, patched)
    }
    return status(405, 'MethodNotAllowed', `${req.method ?? ''} is not supported by this test server`)
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      let answer: ReturnType<typeof handle>
      try {
        answer = handle(req, body)
      } catch (error) {
        answer = { status: 500, type: 'text/plain', payload: String(error) }
      }
      const url = new URL(req.url ?? '/', 'http://localhost')
      requests.push({
        method: req.method ?? '', path: url.pathname, query: url.searchParams, accept: req.headers.accept, contentType: req.headers['content-type'],
        body, status: answer.status, responseType: answer.type,
      })
      res.writeHead(answer.status, { 'Content-Type': answer.type })
      res.end(answer.payload)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  address = `127.0.0.1:${port}`
  return {
    url: `http://${address}`,
    requests,
    objects,
    close: () => new Promise((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}
