/**
 * The EndpointSlice controller as a pure function: for a Service with a selector, the
 * discovery.k8s.io/v1 EndpointSlices that list the pods behind it, as kube-controller-manager's
 * endpointslice controller keeps them (pkg/controller/endpointslice, reconciler.go).
 *
 * What the slices hold:
 * - one endpoint per selected pod of the service's namespace that has an IP of the slice's
 *   address type and has not finished (Succeeded/Failed): `ready` when the pod is Ready and not
 *   terminating (or always, with `publishNotReadyAddresses`), `serving` when it is Ready,
 *   `terminating` when it is being deleted; with `nodeName`, the node's zone (its
 *   `topology.kubernetes.io/zone` label, when the node is known), the pod as `targetRef`, and a
 *   `hostname` when the pod names the service as its subdomain;
 * - endpoints are grouped by the ports the service's ports resolve to in each pod (a named
 *   targetPort may differ between pods), one address type per slice (the service's IP
 *   families), at most `endpointsPerSliceMax` (100) endpoints per slice;
 * - every slice carries the service's labels plus `kubernetes.io/service-name` and
 *   `endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io`, and a controller
 *   owner reference to the Service; names are `<service>-<5 random chars>` (generateName).
 *
 * Minimal churn, as Kubernetes' reconciler: an existing slice keeps its name and its endpoints'
 * places; changed endpoints are updated in place, removed ones dropped; new endpoints first fill
 * slices that are being updated anyway (fullest first), then the fullest unchanged slice that
 * can take them all, and only then new slices. A slice left empty is deleted, except that a
 * create and a delete of the same address type become one update of the slice to be deleted.
 * A service without any endpoint keeps one placeholder slice with no endpoints and no ports.
 * The same observations always give the same writes, and a settled world gives none.
 *
 * Services without a selector get no managed slices (their slices, if any, are the user's); when
 * a service goes away, is being deleted or loses its selector, the slices this controller manages
 * for it are deleted. So are managed slices owned by an older Service of the same name.
 *
 * Deliberate deviations: a pod none of whose service ports resolves is left out (as the
 * Endpoints controller does here), where Kubernetes lists it in a slice without ports; and a pod
 * on a node that is not (yet) known is listed without a zone, where Kubernetes skips it and tries
 * again later.
 */
import { isIP } from 'node:net'
import { generateName } from '../api/machinery/names.ts'
import { isJsonObject, type JsonObject, type JsonValue } from '../api/machinery/canonical.ts'
import type { Random } from '../../../lib/random.ts'
import { assert } from '../../../lib/assert.ts'
import { podMatchesService, resolveTargetPort, serviceSelectorOf } from './endpoints.ts'
import { controllerReferenceTo, equalIgnoringNullFields, isBeingDeleted, labelsOf, listAt, metadataOf, nameOf, namespaceOf, specOf, statusOf, stringAt, uidOf } from './object-fields.ts'
import { PlanBuilder, type DeleteAction, type Plan, type ResourceRef } from './plan.ts'
import { isPodReady, podPhase } from './pods.ts'

/** EndpointSlices: discovery.k8s.io/v1. */
export const ENDPOINT_SLICES: ResourceRef = { group: 'discovery.k8s.io', resource: 'endpointslices', kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', namespaced: true }
/** The label naming the Service a slice belongs to. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name'
/** The label naming the controller that manages a slice. */
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by'
/** The value of MANAGED_BY_LABEL on the slices this controller writes (Kubernetes' own value). */
export const ENDPOINT_SLICE_CONTROLLER_NAME = 'endpointslice-controller.k8s.io'
/** kube-controller-manager's `--max-endpoints-per-slice` default. */
export const ENDPOINTS_PER_SLICE_DEFAULT = 100
/** The node label that gives an endpoint its zone. */
export const ZONE_LABEL = 'topology.kubernetes.io/zone'
/** The label Kubernetes puts on what belongs to a headless service. */
const HEADLESS_LABEL = 'service.kubernetes.io/headless'
/** Labels the controller sets itself, never copied from the service. */
const RESERVED_LABELS: readonly string[] = [SERVICE_NAME_LABEL, MANAGED_BY_LABEL, HEADLESS_LABEL]

type AddressType = 'IPv4' | 'IPv6'

/** What the reconcile of one service's slices observes. */
export interface EndpointSliceInputs {
  /** The service, undefined when it does not exist. */
  readonly service: JsonObject | undefined
  /** The slices labelled as managed by this controller for the service's name and namespace. */
  readonly slices: readonly JsonObject[]
  /** Pods of the service's namespace (others are skipped). */
  readonly pods: readonly JsonObject[]
  /** The zone of a node, undefined when the node or its zone label is unknown. */
  readonly zoneOfNode: (nodeName: string) => string | undefined
  /** Names new slices; seed it for replayable plans. */
  readonly random: Random
  readonly endpointsPerSliceMax?: number
}

/** True when this controller manages `slice` (by its managed-by label). */
export function isManagedSlice(slice: JsonObject): boolean {
  return labelsOf(slice)[MANAGED_BY_LABEL] === ENDPOINT_SLICE_CONTROLLER_NAME
}

/** The service a managed slice belongs to, as `namespace/name`; undefined for other slices. */
export function serviceKeyOfSlice(slice: JsonObject): string | undefined {
  const serviceName = labelsOf(slice)[SERVICE_NAME_LABEL]
  if (!isManagedSlice(slice) || serviceName === undefined || serviceName === '') return undefined
  return `${namespaceOf(slice)}/${serviceName}`
}

/**
 * Reconciles the EndpointSlices of one service name. The plan creates first, then updates, then
 * deletes, so that a service never passes through a moment without its endpoints.
 */
export function reconcileEndpointSlices(inputs: EndpointSliceInputs): Plan {
  const plan = new PlanBuilder()
  const { service } = inputs
  const live = inputs.slices.filter((slice) => isManagedSlice(slice) && !isBeingDeleted(slice))
  const selector = service === undefined || isBeingDeleted(service) ? undefined : serviceSelectorOf(service)
  if (service === undefined || selector === undefined) {
    for (const slice of live) plan.add(deleteAction(slice))
    return plan.build()
  }
  const owned = live.filter((slice) => ownerUidOf(slice) === uidOf(service))
  const changes: SliceChanges = { create: [], update: [], delete: live.filter((slice) => !owned.includes(slice)) }
  const types = serviceAddressTypes(service)
  changes.delete.push(...owned.filter((slice) => !types.includes(stringAt(slice['addressType']) as AddressType)))
  const context = { service, max: inputs.endpointsPerSliceMax ?? ENDPOINTS_PER_SLICE_DEFAULT, random: inputs.random, taken: new Set(inputs.slices.map(nameOf)) }
  assert(Number.isInteger(context.max) && context.max > 0, `endpoints per slice must be a positive integer, got ${context.max}`)
  for (const addressType of types) {
    const existing = owned.filter((slice) => slice['addressType'] === addressType)
    const desired = desiredEndpoints(service, addressType, inputs)
    const typeChanges = reconcileAddressType(existing, desired, addressType, context)
    changes.create.push(...typeChanges.create)
    changes.update.push(...typeChanges.update)
    changes.delete.push(...typeChanges.delete)
  }
  const namespace = namespaceOf(service)
  for (const object of changes.create) plan.add({ type: 'create', resource: ENDPOINT_SLICES, namespace, object })
  for (const object of changes.update) plan.add({ type: 'update', resource: ENDPOINT_SLICES, namespace, name: nameOf(object), object })
  for (const slice of changes.delete) plan.add(deleteAction(slice))
  return plan.build()
}

/** The writes of one reconcile: new slices, replaced slices and slices to delete. */
interface SliceChanges {
  create: JsonObject[]
  update: JsonObject[]
  delete: JsonObject[]
}

interface ReconcileContext {
  readonly service: JsonObject
  readonly max: number
  readonly random: Random
  /** Slice names in use (new names avoid them and are added). */
  readonly taken: Set<string>
}

/** The endpoints of one set of ports: keyed by endpointKey, in insertion (sorted) order. */
interface PortGroup {
  readonly ports: JsonObject[]
  readonly endpoints: Map<string, JsonObject>
}

function deleteAction(slice: JsonObject): DeleteAction {
  return { type: 'delete', resource: ENDPOINT_SLICES, namespace: namespaceOf(slice), name: nameOf(slice), uid: uidOf(slice) }
}

function ownerUidOf(slice: JsonObject): string | undefined {
  for (const reference of listAt(metadataOf(slice)['ownerReferences'])) {
    if (isJsonObject(reference) && reference['controller'] === true && reference['kind'] === 'Service') return stringAt(reference['uid'])
  }
  return undefined
}

/**
 * The address types the service's endpoints have: its IP families, else the family of its
 * cluster IP, else IPv4 (`getAddressTypesForService`).
 */
export function serviceAddressTypes(service: JsonObject): AddressType[] {
  const spec = specOf(service)
  const families = listAt(spec['ipFamilies']).filter((family): family is 'IPv4' | 'IPv6' => family === 'IPv4' || family === 'IPv6')
  if (families.length > 0) return [...new Set(families)]
  return isIP(stringAt(spec['clusterIP'])) === 6 ? ['IPv6'] : ['IPv4']
}

/** The pod's IP of the address type (from `status.podIPs`, else `status.podIP`). */
function podAddress(pod: JsonObject, addressType: AddressType): string | undefined {
  const status = statusOf(pod)
  const candidates = [...listAt(status['podIPs']).map((entry) => (isJsonObject(entry) ? stringAt(entry['ip']) : '')), stringAt(status['podIP'])]
  const family = addressType === 'IPv4' ? 4 : 6
  return candidates.find((ip) => ip !== '' && isIP(ip) === family)
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** The ports the service's ports resolve to in `pod`, sorted by name, port and protocol. */
function podPorts(pod: JsonObject, servicePorts: readonly JsonObject[]): JsonObject[] {
  const ports: JsonObject[] = []
  for (const servicePort of servicePorts) {
    const port = resolveTargetPort(pod, servicePort)
    if (port === undefined) continue
    const resolved: JsonObject = { name: stringAt(servicePort['name']), port, protocol: stringAt(servicePort['protocol'], 'TCP') }
    if (typeof servicePort['appProtocol'] === 'string') resolved['appProtocol'] = servicePort['appProtocol']
    ports.push(resolved)
  }
  return ports.sort((a, b) => compareStrings(stringAt(a['name']), stringAt(b['name'])) || Number(a['port']) - Number(b['port']) || compareStrings(stringAt(a['protocol']), stringAt(b['protocol'])))
}

/** Identifies "the same endpoint" across reconciles: its pod, addresses and hostname (`hashEndpoint`). */
function endpointKey(endpoint: JsonObject): string {
  const reference = isJsonObject(endpoint['targetRef']) ? endpoint['targetRef'] : {}
  const addresses = listAt(endpoint['addresses']).map(String).sort()
  return JSON.stringify([stringAt(reference['namespace']), stringAt(reference['name']), addresses, stringAt(endpoint['hostname'])])
}

function portsKey(ports: readonly JsonObject[]): string {
  return JSON.stringify(ports.map((port) => [stringAt(port['name']), port['port'] ?? null, stringAt(port['protocol']), stringAt(port['appProtocol'])]))
}

/** The endpoint of `pod` in `service`'s slices, or undefined when the pod is not listed. */
function podEndpoint(pod: JsonObject, service: JsonObject, addressType: AddressType, zoneOfNode: EndpointSliceInputs['zoneOfNode']): JsonObject | undefined {
  const phase = podPhase(pod)
  if (phase === 'Succeeded' || phase === 'Failed') return undefined
  const address = podAddress(pod, addressType)
  if (address === undefined) return undefined
  const serving = isPodReady(pod)
  const terminating = isBeingDeleted(pod)
  // A terminating pod is never "ready", so that consumers that only look at ready stop at once.
  const ready = specOf(service)['publishNotReadyAddresses'] === true || (serving && !terminating)
  const endpoint: JsonObject = { addresses: [address], conditions: { ready, serving, terminating } }
  const spec = specOf(pod)
  const hostname = stringAt(spec['hostname'])
  if (hostname !== '' && stringAt(spec['subdomain']) === nameOf(service)) endpoint['hostname'] = hostname
  const nodeName = stringAt(spec['nodeName'])
  if (nodeName !== '') {
    endpoint['nodeName'] = nodeName
    const zone = zoneOfNode(nodeName)
    if (zone !== undefined && zone !== '') endpoint['zone'] = zone
  }
  // No resourceVersion: with it every pod status write would rewrite the slice.
  endpoint['targetRef'] = { kind: 'Pod', namespace: namespaceOf(pod), name: nameOf(pod), uid: uidOf(pod) }
  return endpoint
}

/** The desired endpoints of one address type, grouped by port set, in a deterministic order. */
function desiredEndpoints(service: JsonObject, addressType: AddressType, inputs: EndpointSliceInputs): Map<string, PortGroup> {
  const selector = serviceSelectorOf(service)
  assert(selector !== undefined, 'only services with a selector have desired endpoints')
  const servicePorts = listAt(specOf(service)['ports']).filter(isJsonObject)
  const pods = inputs.pods.filter((pod) => namespaceOf(pod) === namespaceOf(service) && podMatchesService(pod, selector))
  pods.sort((a, b) => compareStrings(nameOf(a), nameOf(b)))
  const groups = new Map<string, PortGroup>()
  for (const pod of pods) {
    const endpoint = podEndpoint(pod, service, addressType, inputs.zoneOfNode)
    if (endpoint === undefined) continue
    const ports = podPorts(pod, servicePorts)
    // A service with ports, none of which this pod has, gets nothing from it.
    if (servicePorts.length > 0 && ports.length === 0) continue
    const key = portsKey(ports)
    let group = groups.get(key)
    if (group === undefined) {
      group = { ports, endpoints: new Map() }
      groups.set(key, group)
    }
    group.endpoints.set(endpointKey(endpoint), endpoint)
  }
  return groups
}

/** The labels the service's slices carry (`setEndpointSliceLabels`). */
function sliceLabels(service: JsonObject): Record<string, string> {
  const labels: Record<string, string> = {}
  for (const [key, value] of Object.entries(labelsOf(service))) if (!RESERVED_LABELS.includes(key)) labels[key] = value
  const clusterIP = stringAt(specOf(service)['clusterIP'])
  if (clusterIP === '' || clusterIP === 'None') labels[HEADLESS_LABEL] = ''
  labels[SERVICE_NAME_LABEL] = nameOf(service)
  labels[MANAGED_BY_LABEL] = ENDPOINT_SLICE_CONTROLLER_NAME
  return labels
}

/** A new slice of the service (named, not yet created) with these ports and endpoints. */
function newSlice(context: ReconcileContext, addressType: AddressType, ports: readonly JsonObject[], endpoints: JsonObject[]): JsonObject {
  const { service } = context
  const prefix = `${nameOf(service)}-`
  let name = generateName(prefix, context.random)
  while (context.taken.has(name)) name = generateName(prefix, context.random)
  context.taken.add(name)
  return {
    apiVersion: ENDPOINT_SLICES.apiVersion,
    kind: ENDPOINT_SLICES.kind,
    metadata: {
      name,
      generateName: prefix,
      namespace: namespaceOf(service),
      labels: sliceLabels(service),
      ownerReferences: [controllerReferenceTo(service, 'v1', 'Service')],
    },
    addressType,
    endpoints,
    ports: [...ports],
  }
}

/** `slice` with these endpoints (and ports) and the service's labels, for an update. */
function replacedSlice(slice: JsonObject, service: JsonObject, endpoints: JsonObject[], ports: JsonValue[] = listAt(slice['ports'])): JsonObject {
  return { ...slice, metadata: { ...metadataOf(slice), labels: sliceLabels(service) }, endpoints, ports }
}

/** A slice being reworked: where it came from (undefined: new) and its endpoints so far. */
interface Draft {
  readonly slice: JsonObject | undefined
  readonly endpoints: JsonObject[]
}

/** The changes for the existing slices of one address type against its desired endpoints. */
function reconcileAddressType(existing: readonly JsonObject[], desired: Map<string, PortGroup>, addressType: AddressType, context: ReconcileContext): SliceChanges {
  const changes: SliceChanges = { create: [], update: [], delete: [] }
  const existingByPorts = new Map<string, JsonObject[]>()
  for (const slice of [...existing].sort((a, b) => compareStrings(nameOf(a), nameOf(b)))) {
    const key = portsKey(listAt(slice['ports']).filter(isJsonObject))
    existingByPorts.set(key, [...(existingByPorts.get(key) ?? []), slice])
  }
  for (const key of [...desired.keys()].sort()) {
    const group = desired.get(key)!
    const groupChanges = reconcilePortGroup(existingByPorts.get(key) ?? [], group, addressType, context)
    changes.create.push(...groupChanges.create)
    changes.update.push(...groupChanges.update)
    changes.delete.push(...groupChanges.delete)
    existingByPorts.delete(key)
  }
  // Slices of port sets no pod has any more.
  for (const slices of existingByPorts.values()) changes.delete.push(...slices)
  if (changes.delete.length === existing.length && changes.create.length === 0) keepPlaceholder(changes, addressType, context)
  reuseDeletedSlices(changes, context.service)
  return changes
}

/**
 * A create and a delete become one update of the slice that would be deleted (`finalize`): fewer
 * writes, and the slice count stays put.
 */
function reuseDeletedSlices(changes: SliceChanges, service: JsonObject): void {
  while (changes.create.length > 0 && changes.delete.length > 0) {
    const created = changes.create.pop()!
    const reused = changes.delete.shift()!
    changes.update.push(replacedSlice(reused, service, listAt(created['endpoints']).filter(isJsonObject), listAt(created['ports'])))
  }
}

/**
 * A service without endpoints keeps one slice without endpoints or ports, so that consumers can
 * tell "no endpoints" from "not reconciled yet". An existing placeholder is kept as it is.
 */
function keepPlaceholder(changes: SliceChanges, addressType: AddressType, context: ReconcileContext): void {
  const [only] = changes.delete
  const isPlaceholder = (slice: JsonObject): boolean => listAt(slice['endpoints']).length === 0 && listAt(slice['ports']).length === 0
  if (changes.delete.length === 1 && only !== undefined && isPlaceholder(only)) {
    changes.delete = []
    if (!equalIgnoringNullFields(labelsOf(only), sliceLabels(context.service))) changes.update.push(replacedSlice(only, context.service, []))
    return
  }
  changes.create.push(newSlice(context, addressType, [], []))
}

/** The changes for the existing slices of one port set (`reconcileByPortMapping`). */
function reconcilePortGroup(existing: readonly JsonObject[], group: PortGroup, addressType: AddressType, context: ReconcileContext): SliceChanges {
  const changes: SliceChanges = { create: [], update: [], delete: [] }
  const remaining = new Map(group.endpoints)
  const updating: Draft[] = []
  const unchanged: Draft[] = []
  const labels = sliceLabels(context.service)
  for (const slice of existing) {
    const endpoints: JsonObject[] = []
    let changed = false
    for (const current of listAt(slice['endpoints']).filter(isJsonObject)) {
      const key = endpointKey(current)
      const wanted = remaining.get(key)
      if (wanted === undefined) {
        changed = true
        continue
      }
      if (!equalIgnoringNullFields(current, wanted)) changed = true
      endpoints.push(wanted)
      remaining.delete(key)
    }
    if (changed && endpoints.length === 0) changes.delete.push(slice)
    else if (changed || !equalIgnoringNullFields(labelsOf(slice), labels)) updating.push({ slice, endpoints })
    else unchanged.push({ slice, endpoints })
  }
  const fresh = [...remaining.values()]
  // New endpoints go first into the slices written anyway, fullest first.
  updating.sort((a, b) => b.endpoints.length - a.endpoints.length)
  for (const draft of updating) while (fresh.length > 0 && draft.endpoints.length < context.max) draft.endpoints.push(fresh.shift()!)
  const created: Draft[] = []
  while (fresh.length > 0) {
    const target = fresh.length < context.max ? sliceToFill(unchanged, fresh.length, context.max) : undefined
    const draft: Draft = target ?? { slice: undefined, endpoints: [] }
    while (fresh.length > 0 && draft.endpoints.length < context.max) draft.endpoints.push(fresh.shift()!)
    if (target === undefined) created.push(draft)
    else {
      unchanged.splice(unchanged.indexOf(target), 1)
      updating.push(target)
    }
  }
  for (const draft of updating) changes.update.push(replacedSlice(draft.slice!, context.service, draft.endpoints))
  for (const draft of created) changes.create.push(newSlice(context, addressType, group.ports, draft.endpoints))
  return changes
}

/** The fullest unchanged slice that can take all `count` endpoints (`getSliceToFill`). */
function sliceToFill(unchanged: readonly Draft[], count: number, max: number): Draft | undefined {
  let best: Draft | undefined
  for (const draft of unchanged) {
    if (max - draft.endpoints.length < count) continue
    if (best === undefined || draft.endpoints.length > best.endpoints.length) best = draft
  }
  return best
}
