/**
 * Cluster IPs for Services, allocated conflict-free through the replicated store.
 *
 * Each allocated address has a claim key written in the SAME transaction as the Service's create
 * (ObjectStore.create `claims`):
 *
 *   /registry/flotilla/serviceips/<ip>   → {"namespace":…,"name":…}   (who claimed it, for humans)
 *
 * A claim counts only while some Service holds the address in `spec.clusterIP`: deleting a
 * Service (through any path: DELETE, namespace termination, garbage collection) therefore releases
 * its address with no hook in the delete paths, and the stale claim key is taken over, by
 * compare-and-swap on its modRevision, by the next create that picks the address. Two creates
 * racing for one address both compare the claim's modRevision, so exactly one wins; the loser
 * re-reads and picks again (a requested address then reports "already allocated").
 *
 * Rules as kube-apiserver's: `clusterIP: None` (headless) and ExternalName Services get no
 * address; a requested address must lie in the range (not its network or broadcast address) and
 * be free, else 422 Invalid on `spec.clusterIPs[0]`; otherwise a random free address is chosen.
 *
 * NodePorts work the same way: NodePort and LoadBalancer Services get a free port of 30000–32767
 * for every port without one, each claimed under `/registry/flotilla/nodeports/<port>` in the
 * create's transaction; a requested port must be in the range and free (422 on
 * `spec.ports[i].nodePort`, kube-apiserver's message).
 *
 * Not covered: re-allocation when an update changes the type from ExternalName to ClusterIP or
 * NodePort (the update keeps what the client sent), IPv6/dual-stack, configurable ranges.
 */
import { randomFromEntropy, type Random } from '../../../../lib/random.ts'
import { isJsonObject, type JsonObject } from '../machinery/canonical.ts'
import { fieldInvalid } from '../machinery/field-errors.ts'
import { ApiError, internalError, invalid } from '../machinery/status.ts'
import { metadataOf, objectKey, type KeyClaim, type ObjectStore, type ResourceRef } from './object-store.ts'

/** The default service CIDR (kube-apiserver's --service-cluster-ip-range default is 10.0.0.0/24; ours is kubeadm's). */
export const SERVICE_CIDR = '10.96.0.0/12'
export const SERVICE_IP_CLAIMS_PREFIX = '/registry/flotilla/serviceips/'
export const NODE_PORT_CLAIMS_PREFIX = '/registry/flotilla/nodeports/'
/** kube-apiserver's --service-node-port-range default. */
export const NODE_PORT_RANGE = { first: 30000, last: 32767 } as const

/** Creates that lose the race for an address this many times in a row give up with 500. */
const ALLOCATION_ATTEMPTS_MAX = 16

const encoder = new TextEncoder()

/** An IPv4 range as numbers: [first usable, last usable], network and broadcast excluded. */
export interface Ipv4Range {
  readonly cidr: string
  readonly firstUsable: number
  readonly lastUsable: number
}

export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.')
  if (parts.length !== 4) return undefined
  let value = 0
  for (const part of parts) {
    if (!/^(0|[1-9]\d{0,2})$/.test(part) || Number(part) > 255) return undefined
    value = value * 256 + Number(part)
  }
  return value
}

export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => String(Math.floor(value / 2 ** shift) % 256)).join('.')
}

export function parseIpv4Range(cidr: string): Ipv4Range {
  const [address, bitsText] = cidr.split('/')
  const base = parseIpv4(address ?? '')
  const bits = Number(bitsText)
  if (base === undefined || !Number.isInteger(bits) || bits < 1 || bits > 30) throw new Error(`not an IPv4 CIDR with 1–30 prefix bits: ${cidr}`)
  const size = 2 ** (32 - bits)
  const network = base - (base % size)
  return { cidr, firstUsable: network + 1, lastUsable: network + size - 2 }
}

const DEFAULT_RANGE = parseIpv4Range(SERVICE_CIDR)

/** Services are core/v1 `services`; everything else passes through untouched. */
export function isServiceResource(resource: ResourceRef): boolean {
  return resource.group === '' && resource.resource === 'services'
}

function specOf(object: JsonObject): JsonObject {
  const spec = object['spec']
  return isJsonObject(spec) ? spec : {}
}

/** Whether `service` should get a cluster IP, and the one it asks for ('' for "any"). */
function requestOf(service: JsonObject): { wants: false } | { wants: true; requested: string } {
  const spec = specOf(service)
  if (spec['type'] === 'ExternalName') return { wants: false }
  const clusterIP = typeof spec['clusterIP'] === 'string' ? spec['clusterIP'] : ''
  const ips = Array.isArray(spec['clusterIPs']) ? spec['clusterIPs'] : []
  const requested = clusterIP !== '' ? clusterIP : typeof ips[0] === 'string' ? ips[0] : ''
  if (requested === 'None') return { wants: false }
  return { wants: true, requested }
}

function allocationError(service: JsonObject, ip: string, why: string): ApiError {
  const spec = specOf(service)
  const ips = Array.isArray(spec['clusterIPs']) && spec['clusterIPs'].length > 0 ? spec['clusterIPs'] : [ip]
  return invalid({ group: '', kind: 'Service' }, String(metadataOf(service)['name'] ?? ''), [fieldInvalid('spec.clusterIPs[0]', ips, `failed to allocate IP ${ip}: ${why}`)])
}

/** The addresses held now: by Services (the truth) and by claim keys (for their modRevisions). */
async function currentAllocations(
  objects: ObjectStore,
  services: ResourceRef,
): Promise<{ held: Set<number>; claimRevisions: Map<number, number>; heldPorts: Set<number>; portClaimRevisions: Map<number, number> }> {
  const held = new Set<number>()
  const heldPorts = new Set<number>()
  for (const service of (await objects.list(services, undefined)).items) {
    const ip = parseIpv4(String(specOf(service)['clusterIP'] ?? ''))
    if (ip !== undefined) held.add(ip)
    for (const port of portsOf(service)) if (typeof port['nodePort'] === 'number') heldPorts.add(port['nodePort'])
  }
  const claimRevisions = new Map<number, number>()
  for (const item of await objects.claimsUnder(SERVICE_IP_CLAIMS_PREFIX)) {
    const ip = parseIpv4(item.key.slice(SERVICE_IP_CLAIMS_PREFIX.length))
    if (ip !== undefined) claimRevisions.set(ip, item.modRevision)
  }
  const portClaimRevisions = new Map<number, number>()
  for (const item of await objects.claimsUnder(NODE_PORT_CLAIMS_PREFIX)) {
    const port = Number(item.key.slice(NODE_PORT_CLAIMS_PREFIX.length))
    if (Number.isInteger(port)) portClaimRevisions.set(port, item.modRevision)
  }
  return { held, claimRevisions, heldPorts, portClaimRevisions }
}

function portsOf(service: JsonObject): JsonObject[] {
  const ports = specOf(service)['ports']
  return Array.isArray(ports) ? ports.filter(isJsonObject) : []
}

/** The ports of a NodePort or LoadBalancer Service, or undefined for other types. */
function nodePortRequests(service: JsonObject): JsonObject[] | undefined {
  const type = specOf(service)['type']
  return type === 'NodePort' || type === 'LoadBalancer' ? portsOf(service) : undefined
}

/**
 * The Service's ports with a node port each: requested ones checked (range, free, not twice),
 * missing ones drawn at random from the free ports. `allocated` lists every port to claim.
 * @throws ApiError 422 for a requested port out of range or taken; 500 when the range is full.
 */
function allocateNodePorts(service: JsonObject, ports: readonly JsonObject[], held: ReadonlySet<number>, random: Random): { ports: JsonObject[]; allocated: number[] } {
  const name = String(metadataOf(service)['name'] ?? '')
  const taken = new Set(held)
  const allocated: number[] = []
  const result: JsonObject[] = ports.map((port) => ({ ...port }))
  result.forEach((port, index) => {
    const requested = port['nodePort']
    if (requested === undefined || requested === null || requested === 0) return
    const field = `spec.ports[${index}].nodePort`
    if (typeof requested !== 'number' || requested < NODE_PORT_RANGE.first || requested > NODE_PORT_RANGE.last) {
      throw invalid({ group: '', kind: 'Service' }, name, [fieldInvalid(field, requested, `provided port is not in the valid range. The range of valid ports is ${NODE_PORT_RANGE.first}-${NODE_PORT_RANGE.last}`)])
    }
    if (taken.has(requested)) throw invalid({ group: '', kind: 'Service' }, name, [fieldInvalid(field, requested, 'provided port is already allocated')])
    taken.add(requested)
    allocated.push(requested)
  })
  const size = NODE_PORT_RANGE.last - NODE_PORT_RANGE.first + 1
  for (const port of result) {
    if (typeof port['nodePort'] === 'number' && port['nodePort'] !== 0) continue
    const start = random.int(0, size)
    let chosen: number | undefined
    for (let i = 0; i < size && chosen === undefined; i++) {
      const candidate = NODE_PORT_RANGE.first + ((start + i) % size)
      if (!taken.has(candidate)) chosen = candidate
    }
    if (chosen === undefined) throw internalError(`failed to allocate a node port: the range ${NODE_PORT_RANGE.first}-${NODE_PORT_RANGE.last} is exhausted`)
    taken.add(chosen)
    allocated.push(chosen)
    port['nodePort'] = chosen
  }
  return { ports: result, allocated }
}

/** A random free address of `range`, or undefined when every one is held. */
function pickFree(range: Ipv4Range, held: ReadonlySet<number>, random: Random): number | undefined {
  const size = range.lastUsable - range.firstUsable + 1
  if (held.size >= size) return undefined
  // Random start, then linear probing: bounded by the range size, fast while the range is sparse.
  const start = random.int(0, size)
  for (let i = 0; i < size; i++) {
    const candidate = range.firstUsable + ((start + i) % size)
    if (!held.has(candidate)) return candidate
  }
  return undefined
}

export interface ServiceIpAllocatorOptions {
  readonly range?: Ipv4Range
  readonly random?: Random
}

/**
 * Creates `object` like ObjectStore.create, allocating a cluster IP first when it is a Service
 * that needs one (see the module comment). Every other object is created unchanged.
 * @throws ApiError 422 when a requested address is outside the range or already allocated; 500
 *   when the range is exhausted or the allocation keeps losing races.
 */
export async function createWithServiceIp(
  objects: ObjectStore,
  resource: ResourceRef,
  namespace: string | undefined,
  object: JsonObject,
  options: { dryRun?: boolean },
  allocator: ServiceIpAllocatorOptions = {},
): Promise<JsonObject> {
  if (!isServiceResource(resource)) return objects.create(resource, namespace, object, options)
  const request = requestOf(object)
  const portRequests = nodePortRequests(object)
  if (!request.wants && portRequests === undefined) return objects.create(resource, namespace, object, options)
  const range = allocator.range ?? DEFAULT_RANGE
  const random = allocator.random ?? SHARED_RANDOM
  let requested: number | undefined
  if (request.wants && request.requested !== '') {
    requested = parseIpv4(request.requested)
    if (requested === undefined || requested < range.firstUsable || requested > range.lastUsable) {
      throw allocationError(object, request.requested, `provided IP is not in the valid range. The range of valid IPs is ${range.cidr}`)
    }
  }
  for (let attempt = 1; ; attempt++) {
    const { held, claimRevisions, heldPorts, portClaimRevisions } = await currentAllocations(objects, resource)
    const metadata = metadataOf(object)
    const claimValue = encoder.encode(JSON.stringify({ namespace: namespace ?? 'default', name: String(metadata['name'] ?? ''), service: objectKey(resource, namespace, String(metadata['name'] ?? '')) }))
    const claims: KeyClaim[] = []
    let spec = specOf(object)
    if (request.wants) {
      let ip: number
      if (requested !== undefined) {
        if (held.has(requested)) throw allocationError(object, request.requested, 'provided IP is already allocated')
        ip = requested
      } else {
        const free = pickFree(range, held, random)
        if (free === undefined) throw internalError(`failed to allocate a cluster IP: the range ${range.cidr} is exhausted`)
        ip = free
      }
      const address = formatIpv4(ip)
      spec = { ...spec, clusterIP: address, clusterIPs: [address], ipFamilies: spec['ipFamilies'] ?? ['IPv4'], ipFamilyPolicy: spec['ipFamilyPolicy'] ?? 'SingleStack' }
      claims.push({ key: `${SERVICE_IP_CLAIMS_PREFIX}${address}`, value: claimValue, ifModRevision: claimRevisions.get(ip) ?? 0 })
    }
    if (portRequests !== undefined) {
      const ports = allocateNodePorts(object, portRequests, heldPorts, random)
      spec = { ...spec, ports: ports.ports }
      for (const port of ports.allocated) claims.push({ key: `${NODE_PORT_CLAIMS_PREFIX}${port}`, value: claimValue, ifModRevision: portClaimRevisions.get(port) ?? 0 })
    }
    const allocated: JsonObject = { ...object, spec }
    if (options.dryRun === true) return objects.create(resource, namespace, allocated, options)
    try {
      return await objects.create(resource, namespace, allocated, { ...options, claims })
    } catch (error) {
      const lostRace = error instanceof ApiError && error.code === 409 && error.reason === 'Conflict'
      if (!lostRace) throw error
      if (attempt >= ALLOCATION_ATTEMPTS_MAX) throw internalError(`failed to allocate a cluster IP after ${attempt} attempts (concurrent creates)`)
    }
  }
}

/** Allocation starts are not replayed, so entropy-seeded (as generated names). */
const SHARED_RANDOM = randomFromEntropy()
