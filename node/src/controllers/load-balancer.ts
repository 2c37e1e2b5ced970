/**
 * LoadBalancer address allocation for bare metal (pure): every Service of type LoadBalancer gets
 * one IPv4 address from the pool in the ConfigMap `kube-system/flotilla-loadbalancer` (key
 * `addresses`, network/src/load-balancer/address-pool.ts), written to
 * `status.loadBalancer.ingress[0].ip`. The node agents announce the address (vip-announcer.ts) and
 * the service proxies DNAT it like a ClusterIP.
 *
 * One pass looks at all Services at once; which addresses are in use is derived from the
 * Services' statuses on every pass, so nothing but the Services themselves holds allocation state
 * and a new leader continues exactly where the last one stopped. Deterministic: Services are
 * visited oldest first (creationTimestamp, then namespace/name) in two rounds —
 *   1. keep: a Service whose status already holds a pool address keeps it, unless an older
 *      Service claimed the same address (double allocation, only possible through manual status
 *      edits) or its spec.loadBalancerIP asks for another address;
 *   2. allocate: the others get spec.loadBalancerIP when it is in the pool and free (these go
 *      first), otherwise the lowest free address. A requested address that is outside the pool or taken, or an
 *      exhausted pool, is a Warning Event and the Service stays pending (`<pending>` in kubectl).
 * An existing allocation is never taken from one Service to give to another.
 *
 * Release: a Service that is deleted releases its address with it (its status is gone); a Service
 * whose type is no longer LoadBalancer, or that names a spec.loadBalancerClass (another
 * implementation's), has its ingress cleared.
 *
 * Pool trouble never corrupts allocations: without a pool ConfigMap, or with a pool that does not
 * parse, existing allocations are kept, nothing new is allocated, and every pending Service gets a
 * Warning Event naming the problem (the bad entries). With a valid pool, an address that is no
 * longer in it is replaced.
 *
 * Events are reported once per cause: `reported` carries the last warning per Service uid, and
 * the same warning is not recorded again until it changes or the Service is allocated.
 */
import type { JsonObject } from '../api/machinery/canonical.ts'
import { ADDRESS_POOL_KEY, ADDRESS_POOL_NAME, ADDRESS_POOL_NAMESPACE, describePoolErrors, parseAddressPool, poolAddresses, poolContains, type AddressPool } from '../../../network/src/load-balancer/address-pool.ts'
import { newEvent } from './events.ts'
import { creationMsOf, listAt, metadataOf, nameOf, namespaceOf, objectAt, specOf, statusOf, stringAt, uidOf } from './object-fields.ts'
import { SERVICES } from './endpoints.ts'
import { PlanBuilder, type Plan } from './plan.ts'

/** The component Events name (kubectl describe's FROM). */
export const LOAD_BALANCER_COMPONENT = 'flotilla-loadbalancer-controller'
export const POOL_REFERENCE = `${ADDRESS_POOL_NAMESPACE}/${ADDRESS_POOL_NAME}`

/** Event reasons. */
export const REASON_ALLOCATED = 'IPAllocated'
export const REASON_ALLOCATION_FAILED = 'AllocationFailed'
export const REASON_RELEASED = 'IPReleased'

export interface LoadBalancerInput {
  readonly services: readonly JsonObject[]
  /** The pool ConfigMap, undefined when it does not exist. */
  readonly poolConfigMap: JsonObject | undefined
  /** The last warning recorded per Service uid (see the module comment). */
  readonly reported: ReadonlyMap<string, string>
  readonly nowMs: number
}

export interface LoadBalancerResult {
  readonly plan: Plan
  /** What `reported` becomes once the plan ran (uids of Services that still exist). */
  readonly reported: ReadonlyMap<string, string>
  /** Service `namespace/name` → address, after the plan: for logs and tests. */
  readonly allocations: ReadonlyMap<string, string>
}

/** The ingress IPs in a Service's status (every entry with an `ip`). */
export function ingressIpsOf(service: JsonObject): string[] {
  return listAt(objectAt(statusOf(service)['loadBalancer'])['ingress'])
    .map((entry) => stringAt(objectAt(entry)['ip']))
    .filter((ip) => ip !== '')
}

/** True for Services this controller allocates for: type LoadBalancer, no loadBalancerClass. */
export function isManagedLoadBalancer(service: JsonObject): boolean {
  const spec = specOf(service)
  return spec['type'] === 'LoadBalancer' && stringAt(spec['loadBalancerClass']) === ''
}

function keyOf(service: JsonObject): string {
  return `${namespaceOf(service)}/${nameOf(service)}`
}

function oldestFirst(a: JsonObject, b: JsonObject): number {
  const difference = creationMsOf(a) - creationMsOf(b)
  if (difference !== 0 && !Number.isNaN(difference)) return difference
  return keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0
}

type PoolState = { readonly kind: 'valid'; readonly pool: AddressPool } | { readonly kind: 'problem'; readonly message: string }

function poolStateOf(configMap: JsonObject | undefined): PoolState {
  if (configMap === undefined) {
    return { kind: 'problem', message: `No address pool: create ConfigMap ${POOL_REFERENCE} with key "${ADDRESS_POOL_KEY}" (ranges like 10.0.0.200-10.0.0.220 or CIDR blocks)` }
  }
  const text = objectAt(configMap['data'])[ADDRESS_POOL_KEY]
  if (typeof text !== 'string') return { kind: 'problem', message: `The address pool ${POOL_REFERENCE} has no key "${ADDRESS_POOL_KEY}"` }
  const parsed = parseAddressPool(text)
  if (!parsed.ok) return { kind: 'problem', message: `The address pool ${POOL_REFERENCE} is invalid, nothing allocated: ${describePoolErrors(parsed.errors)}` }
  return { kind: 'valid', pool: parsed.pool }
}

/** The Service with `status.loadBalancer` set to `ip` (or cleared), other status fields kept. */
function withIngress(service: JsonObject, ip: string | undefined): JsonObject {
  const loadBalancer: JsonObject = ip === undefined ? {} : { ingress: [{ ip }] }
  return { ...service, apiVersion: 'v1', kind: 'Service', status: { ...statusOf(service), loadBalancer } }
}

/** The plan of one pass as it is built: writes and events in order, and what is allocated. */
class Pass {
  readonly builder = new PlanBuilder()
  readonly reported = new Map<string, string>()
  /** Service `namespace/name` → address. */
  readonly allocations = new Map<string, string>()
  /** Address → the Service `namespace/name` holding it. */
  readonly taken = new Map<string, string>()
  private readonly input: LoadBalancerInput
  private sequence = 0

  constructor(input: LoadBalancerInput) {
    this.input = input
  }

  event(service: JsonObject, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const involved = { ...service, apiVersion: 'v1', kind: 'Service' }
    this.builder.add({ type: 'event', event: newEvent({ involved, reason, message, type, component: LOAD_BALANCER_COMPONENT, nowMs: this.input.nowMs, sequence: this.sequence++ }) })
  }

  /** A Warning, unless the same one was reported last time (see the module comment). */
  warnOnce(service: JsonObject, message: string): void {
    this.reported.set(uidOf(service), message)
    if (this.input.reported.get(uidOf(service)) !== message) this.event(service, 'Warning', REASON_ALLOCATION_FAILED, message)
  }

  writeIngress(service: JsonObject, ip: string | undefined): void {
    this.builder.add({ type: 'updateStatus', resource: SERVICES, namespace: namespaceOf(service), name: nameOf(service), object: withIngress(service, ip) })
  }

  allocate(service: JsonObject, ip: string): void {
    this.taken.set(ip, keyOf(service))
    this.allocations.set(keyOf(service), ip)
  }

  result(): LoadBalancerResult {
    return { plan: this.builder.build(), reported: this.reported, allocations: this.allocations }
  }
}

/** Decides one pass over all Services (see the module comment). */
export function reconcileLoadBalancers(input: LoadBalancerInput): LoadBalancerResult {
  const pass = new Pass(input)
  const services = [...input.services].sort(oldestFirst)
  // Release: Services that are no longer ours but still show an address.
  for (const service of services) {
    if (isManagedLoadBalancer(service) || ingressIpsOf(service).length === 0) continue
    pass.writeIngress(service, undefined)
    pass.event(service, 'Normal', REASON_RELEASED, `Released IP ${ingressIpsOf(service).join(', ')}: the Service is no longer of type LoadBalancer`)
  }
  const managed = services.filter(isManagedLoadBalancer)
  const pool = poolStateOf(input.poolConfigMap)
  if (pool.kind === 'problem') {
    // Keep whatever is allocated; only the pending Services hear about the problem.
    for (const service of managed) {
      const [ip] = ingressIpsOf(service)
      if (ip !== undefined) pass.allocations.set(keyOf(service), ip)
      else pass.warnOnce(service, pool.message)
    }
    return pass.result()
  }
  const pending = keepAllocations(pass, managed, pool.pool)
  allocatePending(pass, pending, pool.pool)
  return pass.result()
}

/** Round 1: Services keep valid allocations, oldest claim first; returns the others, in order. */
function keepAllocations(pass: Pass, managed: readonly JsonObject[], pool: AddressPool): JsonObject[] {
  const pending: JsonObject[] = []
  for (const service of managed) {
    const ips = ingressIpsOf(service)
    const [ip] = ips
    const requested = stringAt(specOf(service)['loadBalancerIP'])
    const keeps = ip !== undefined && ips.length === 1 && poolContains(pool, ip) && !pass.taken.has(ip) && (requested === '' || requested === ip)
    if (keeps) pass.allocate(service, ip)
    else pending.push(service)
  }
  return pending
}

/** Round 2: the pending Services get their requested or the lowest free address, or a Warning. */
function allocatePending(pass: Pass, pending: readonly JsonObject[], pool: AddressPool): void {
  // One walk over the pool serves every Service of the pass.
  const free = poolAddresses(pool)
  const nextFree = (): string | undefined => {
    for (let next = free.next(); next.done !== true; next = free.next()) if (!pass.taken.has(next.value)) return next.value
    return undefined
  }
  // Services that ask for a specific address go first, so that a free requested address is not
  // handed to an older Service that would take any.
  const requestOf = (service: JsonObject): string => stringAt(specOf(service)['loadBalancerIP'])
  for (const service of [...pending.filter((service) => requestOf(service) !== ''), ...pending.filter((service) => requestOf(service) === '')]) {
    const requested = requestOf(service)
    let ip: string | undefined
    if (requested !== '') {
      if (!poolContains(pool, requested)) pass.warnOnce(service, `Requested loadBalancerIP ${requested} is not in the address pool ${POOL_REFERENCE}`)
      else if (pass.taken.has(requested)) pass.warnOnce(service, `Requested loadBalancerIP ${requested} is already allocated to Service ${pass.taken.get(requested) ?? ''}`)
      else ip = requested
    } else {
      ip = nextFree()
      if (ip === undefined) pass.warnOnce(service, `No free address in the address pool ${POOL_REFERENCE} (${pool.size} addresses, all allocated)`)
    }
    if (ip === undefined) {
      // A Service that lost its address (pool shrank, conflict) must not keep showing it.
      if (ingressIpsOf(service).length > 0) pass.writeIngress(service, undefined)
      continue
    }
    pass.allocate(service, ip)
    pass.writeIngress(service, ip)
    pass.event(service, 'Normal', REASON_ALLOCATED, `Assigned IP ${ip} from the address pool ${POOL_REFERENCE}`)
  }
}

/** True for the pool ConfigMap (by namespace and name). */
export function isPoolConfigMap(configMap: JsonObject): boolean {
  return stringAt(metadataOf(configMap)['namespace']) === ADDRESS_POOL_NAMESPACE && nameOf(configMap) === ADDRESS_POOL_NAME
}
