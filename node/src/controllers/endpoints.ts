/**
 * The Endpoints controller as a pure function: for a Service with a selector, the core/v1
 * Endpoints object of the same name that lists the pods behind it, as kube-controller-manager's
 * endpoints controller builds it (the service proxy and cluster DNS read these).
 *
 * Rules (pkg/controller/endpoint, v1.20):
 * - a pod counts when it matches the selector, lives in the service's namespace and has a pod IP;
 *   a pod being deleted is dropped (unless the service publishes not-ready addresses);
 * - a Ready pod (or any pod when `publishNotReadyAddresses`) goes into `addresses`; a pod that is
 *   not Ready and not finished for good goes into `notReadyAddresses`;
 * - each service port resolves its `targetPort` per pod: a number as is, a name through the pod's
 *   container ports of that name and protocol (a pod without it gets no such port), so pods whose
 *   named ports differ end up in different subsets;
 * - subsets group the addresses that share one set of ports (`RepackSubsets`), everything sorted,
 *   so the same pods always yield the same object and a quiet world makes no writes.
 *
 * Services without a selector are left alone (their Endpoints are the user's). The Endpoints this
 * controller writes carry the MANAGED_BY_ANNOTATION so that, when their Service goes away or
 * loses its selector, they are deleted, and a user's own Endpoints never are.
 *
 * EndpointSlices (discovery.k8s.io/v1) are the EndpointSlice controller's (endpoint-slices.ts).
 */
import { isJsonObject, type JsonObject, type JsonValue } from '../api/machinery/canonical.ts'
import { annotationsOf, equalIgnoringNullFields, isBeingDeleted, labelsOf, listAt, metadataOf, nameOf, namespaceOf, numberAt, objectAt, specOf, statusOf, stringAt, stringMapAt, uidOf } from './object-fields.ts'
import { PlanBuilder, type Plan, type ResourceRef } from './plan.ts'
import { isPodReady, podPhase } from './pods.ts'

/** Endpoints: core/v1. */
export const ENDPOINTS: ResourceRef = { group: '', resource: 'endpoints', kind: 'Endpoints', apiVersion: 'v1', namespaced: true }
/** Services: core/v1. */
export const SERVICES: ResourceRef = { group: '', resource: 'services', kind: 'Service', apiVersion: 'v1', namespaced: true }

/** Marks the Endpoints this controller owns (Kubernetes has no marker; see the module comment). */
export const MANAGED_BY_ANNOTATION = 'flotilla.dev/managed-by'
export const ENDPOINTS_CONTROLLER_NAME = 'endpoint-controller'
/** The label Kubernetes puts on the Endpoints of a headless service. */
const HEADLESS_LABEL = 'service.kubernetes.io/headless'

/** One resolved port of one pod. */
interface EndpointPort {
  readonly name: string
  readonly port: number
  readonly protocol: string
}

/** The selector of a Service (`spec.selector`, equality only); undefined when it has none. */
export function serviceSelectorOf(service: JsonObject): Readonly<Record<string, string>> | undefined {
  const selector = specOf(service)['selector']
  if (!isJsonObject(selector)) return undefined
  const labels = stringMapAt(selector)
  // An empty selector is no selector (`len(service.Spec.Selector) == 0` in Kubernetes).
  return Object.keys(labels).length === 0 ? undefined : labels
}

/** True when every selector pair is among the pod's labels. */
export function podMatchesService(pod: JsonObject, selector: Readonly<Record<string, string>>): boolean {
  const labels = labelsOf(pod)
  return Object.entries(selector).every(([key, value]) => labels[key] === value)
}

/**
 * The container port a service port's `targetPort` names in `pod` (`FindPort`): a number is
 * itself; a name is the first container port with that name and protocol. Undefined when the pod
 * has no such port.
 */
export function resolveTargetPort(pod: JsonObject, servicePort: JsonObject): number | undefined {
  const target: JsonValue | undefined = servicePort['targetPort'] ?? servicePort['port']
  if (typeof target === 'number') return target
  if (typeof target !== 'string' || target === '') return undefined
  if (/^[0-9]+$/.test(target)) return Number(target)
  const protocol = stringAt(servicePort['protocol'], 'TCP')
  for (const container of listAt(specOf(pod)['containers'])) {
    for (const port of listAt(objectAt(container)['ports'])) {
      const candidate = objectAt(port)
      if (stringAt(candidate['name']) === target && stringAt(candidate['protocol'], 'TCP') === protocol) {
        const number = numberAt(candidate['containerPort'], 0)
        return number > 0 ? number : undefined
      }
    }
  }
  return undefined
}

/** Where a pod goes: ready addresses, not-ready addresses, or nowhere. */
function podPlacement(pod: JsonObject, publishNotReady: boolean): 'ready' | 'notReady' | undefined {
  if (stringAt(statusOf(pod)['podIP']) === '') return undefined
  if (!publishNotReady && isBeingDeleted(pod)) return undefined
  if (publishNotReady || isPodReady(pod)) return 'ready'
  // A pod that finished and will not be restarted never serves again (`shouldPodBeInEndpoints`).
  const phase = podPhase(pod)
  const restartPolicy = stringAt(specOf(pod)['restartPolicy'], 'Always')
  if (restartPolicy === 'Never' && (phase === 'Failed' || phase === 'Succeeded')) return undefined
  if (restartPolicy === 'OnFailure' && phase === 'Succeeded') return undefined
  return 'notReady'
}

function addressOf(pod: JsonObject, service: JsonObject): JsonObject {
  const address: JsonObject = { ip: stringAt(statusOf(pod)['podIP']) }
  const spec = specOf(pod)
  // A pod with a hostname in the service's subdomain gets a DNS name under it.
  const hostname = stringAt(spec['hostname'])
  if (hostname !== '' && stringAt(spec['subdomain']) === nameOf(service)) address['hostname'] = hostname
  const nodeName = stringAt(spec['nodeName'])
  if (nodeName !== '') address['nodeName'] = nodeName
  // No resourceVersion in the reference, on purpose: with it every pod status write would
  // rewrite the Endpoints, and nothing that reads Endpoints needs it.
  address['targetRef'] = { kind: 'Pod', namespace: namespaceOf(pod), name: nameOf(pod), uid: uidOf(pod) }
  return address
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** Orders addresses by IP, then pod name (two pods may briefly share an IP across nodes). */
function compareAddresses(a: JsonObject, b: JsonObject): number {
  return compareStrings(stringAt(a['ip']), stringAt(b['ip'])) || compareStrings(stringAt(objectAt(a['targetRef'])['name']), stringAt(objectAt(b['targetRef'])['name']))
}

function portKey(ports: readonly EndpointPort[]): string {
  return ports.map((port) => `${port.name}/${port.port}/${port.protocol}`).join(',')
}

/**
 * The subsets for `service` over `pods` (any pods: those that do not match are skipped). Empty
 * when no pod qualifies.
 */
export function endpointSubsets(service: JsonObject, pods: readonly JsonObject[]): JsonObject[] {
  const selector = serviceSelectorOf(service)
  if (selector === undefined) return []
  const namespace = namespaceOf(service)
  const spec = specOf(service)
  const publishNotReady = spec['publishNotReadyAddresses'] === true
  const servicePorts = listAt(spec['ports']).filter(isJsonObject)
  const groups = new Map<string, { ports: EndpointPort[]; ready: JsonObject[]; notReady: JsonObject[] }>()
  for (const pod of pods) {
    if (namespaceOf(pod) !== namespace || !podMatchesService(pod, selector)) continue
    const placement = podPlacement(pod, publishNotReady)
    if (placement === undefined) continue
    const ports: EndpointPort[] = []
    for (const servicePort of servicePorts) {
      const port = resolveTargetPort(pod, servicePort)
      if (port !== undefined) ports.push({ name: stringAt(servicePort['name']), port, protocol: stringAt(servicePort['protocol'], 'TCP') })
    }
    // A service with ports, none of which this pod has, gets nothing from it.
    if (servicePorts.length > 0 && ports.length === 0) continue
    ports.sort((a, b) => compareStrings(a.name, b.name) || a.port - b.port || compareStrings(a.protocol, b.protocol))
    const key = portKey(ports)
    let group = groups.get(key)
    if (group === undefined) {
      group = { ports, ready: [], notReady: [] }
      groups.set(key, group)
    }
    ;(placement === 'ready' ? group.ready : group.notReady).push(addressOf(pod, service))
  }
  return [...groups.entries()]
    .sort(([a], [b]) => compareStrings(a, b))
    .map(([, group]) => {
      const subset: JsonObject = {}
      if (group.ready.length > 0) subset['addresses'] = group.ready.sort(compareAddresses)
      if (group.notReady.length > 0) subset['notReadyAddresses'] = group.notReady.sort(compareAddresses)
      if (group.ports.length > 0) subset['ports'] = group.ports.map((port): JsonObject => (port.name === '' ? { port: port.port, protocol: port.protocol } : { name: port.name, port: port.port, protocol: port.protocol }))
      return subset
    })
}

/** The labels of a service's Endpoints: the service's, plus the headless marker when headless. */
function endpointsLabels(service: JsonObject): Record<string, string> {
  const labels = { ...labelsOf(service) }
  if (stringAt(specOf(service)['clusterIP']) === 'None') labels[HEADLESS_LABEL] = ''
  else delete labels[HEADLESS_LABEL]
  return labels
}

/** True when this controller wrote `endpoints`. */
export function isManagedEndpoints(endpoints: JsonObject): boolean {
  return annotationsOf(endpoints)[MANAGED_BY_ANNOTATION] === ENDPOINTS_CONTROLLER_NAME
}

/**
 * Reconciles the Endpoints of one service name: `service` (undefined when it does not exist),
 * the current `endpoints` of that name (undefined when none) and the pods of the namespace.
 */
export function reconcileEndpoints(service: JsonObject | undefined, endpoints: JsonObject | undefined, pods: readonly JsonObject[]): Plan {
  const plan = new PlanBuilder()
  const selector = service === undefined || isBeingDeleted(service) ? undefined : serviceSelectorOf(service)
  if (service === undefined || selector === undefined) {
    if (endpoints !== undefined && isManagedEndpoints(endpoints) && !isBeingDeleted(endpoints)) {
      plan.add({ type: 'delete', resource: ENDPOINTS, namespace: namespaceOf(endpoints), name: nameOf(endpoints), uid: uidOf(endpoints) })
    }
    return plan.build()
  }
  const subsets = endpointSubsets(service, pods)
  const labels = endpointsLabels(service)
  const namespace = namespaceOf(service)
  if (endpoints === undefined) {
    plan.add({
      type: 'create',
      resource: ENDPOINTS,
      namespace,
      object: {
        apiVersion: 'v1',
        kind: 'Endpoints',
        metadata: { name: nameOf(service), namespace, labels, annotations: { [MANAGED_BY_ANNOTATION]: ENDPOINTS_CONTROLLER_NAME } },
        subsets,
      },
    })
    return plan.build()
  }
  const currentSubsets = listAt(endpoints['subsets'])
  if (equalIgnoringNullFields(currentSubsets, subsets) && equalIgnoringNullFields(labelsOf(endpoints), labels) && isManagedEndpoints(endpoints)) return plan.build()
  const metadata = metadataOf(endpoints)
  plan.add({
    type: 'update',
    resource: ENDPOINTS,
    namespace,
    name: nameOf(endpoints),
    object: {
      ...endpoints,
      metadata: { ...metadata, labels, annotations: { ...annotationsOf(endpoints), [MANAGED_BY_ANNOTATION]: ENDPOINTS_CONTROLLER_NAME } },
      subsets,
    },
  })
  return plan.build()
}
