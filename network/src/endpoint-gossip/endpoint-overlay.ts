/**
 * The endpoint overlay: EndpointSlices as the store has them, corrected by what the nodes
 * themselves report over gossip. The store's slices are written by the leader's controller after
 * two Raft round trips (agent → pod status → controller → slice), and not at all while the
 * cluster has no quorum; a node's own report is at most one debounce old. So for every endpoint
 * whose pod runs on a node with a fresh report, the report can take `ready` and `serving` away and
 * add `terminating`; everything else stays as the store says.
 *
 * The rules, per endpoint (its node is `nodeName`; its pod is `targetRef.uid`, else its address):
 * - The node has a fresh report that lists the pod (by uid; by address only for endpoints without
 *   a uid, and only when one pod of the report has it): `serving` = the store's and the pod is
 *   Ready; `terminating` = the store's or the report's; `ready` = the store's, serving and not
 *   terminating — or true for a Service with `publishNotReadyAddresses`, as the endpoint-slices
 *   controller does. Gossip only takes readiness away (fast, and safe without quorum); a pod that
 *   turned Ready is routed to once the API shows it, so Services never route to a pod the API
 *   has not seen Ready.
 *   A pod listed with another address than the endpoint's is a new sandbox: the old address no
 *   longer answers, so it counts as gone.
 * - The node has a fresh, complete report that does not list the pod: the pod is gone from that
 *   node, so the endpoint is neither ready nor serving. An incomplete report (the node is still
 *   finding its pods after a start) leaves unlisted pods alone.
 * - The node reported before and fell silent (`goneNodes`): neither ready nor serving.
 * - The node never reported (hollow nodes, nodes without the pod network): unchanged.
 * - An endpoint without `nodeName` is looked up by uid (else address) in every fresh report;
 *   not found, it stays unchanged.
 *
 * Pure and deterministic. Inputs are never mutated: a slice with a changed endpoint comes back
 * as a new object (new endpoints array, new objects for the changed endpoints, the rest shared);
 * an unchanged slice comes back as the very object given, so callers can compare by identity.
 */
import type { KubeObject } from '../service-proxy/service-rules.ts'
import type { EndpointReport, PodReport } from './endpoint-reports.ts'

/** The label that ties an EndpointSlice to its Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name'

export interface EndpointOverlayInput<T extends KubeObject> {
  readonly slices: readonly T[]
  /** Fresh reports (this node's own included), at most one per node. */
  readonly reports: readonly EndpointReport[]
  /** Nodes that reported before and have fallen silent. */
  readonly goneNodes: ReadonlySet<string>
  /** Services with `publishNotReadyAddresses`, as "namespace/name". */
  readonly publishNotReadyServices?: ReadonlySet<string>
}

/** What the reports say about one endpoint. */
type Verdict = { readonly kind: 'unknown' } | { readonly kind: 'gone' } | { readonly kind: 'present'; readonly pod: PodReport }

const UNKNOWN: Verdict = { kind: 'unknown' }
const GONE: Verdict = { kind: 'gone' }

/** A report indexed for lookups by pod uid and by address. */
interface IndexedReport {
  readonly report: EndpointReport
  readonly byUid: ReadonlyMap<string, PodReport>
  /** Addresses held by exactly one pod of the report (host-network pods share the node's). */
  readonly byUniqueIp: ReadonlyMap<string, PodReport>
}

/** The slices with conditions corrected by the reports; see the module comment. */
export function overlayEndpointSlices<T extends KubeObject>(input: EndpointOverlayInput<T>): T[] {
  const reports = new Map<string, IndexedReport>()
  for (const report of [...input.reports].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0))) {
    if (!reports.has(report.node)) reports.set(report.node, indexReport(report))
  }
  if (reports.size === 0 && input.goneNodes.size === 0) return [...input.slices]
  return input.slices.map((slice) => overlaySlice(slice, reports, input.goneNodes, publishesNotReady(slice, input.publishNotReadyServices)))
}

function indexReport(report: EndpointReport): IndexedReport {
  const byUid = new Map<string, PodReport>()
  const ipCounts = new Map<string, number>()
  for (const pod of report.pods) {
    byUid.set(pod.uid, pod)
    ipCounts.set(pod.ip, (ipCounts.get(pod.ip) ?? 0) + 1)
  }
  const byUniqueIp = new Map<string, PodReport>()
  for (const pod of report.pods) if (ipCounts.get(pod.ip) === 1) byUniqueIp.set(pod.ip, pod)
  return { report, byUid, byUniqueIp }
}

function publishesNotReady(slice: KubeObject, services: ReadonlySet<string> | undefined): boolean {
  if (services === undefined || services.size === 0) return false
  const metadata = objectAt(slice['metadata'])
  const service = stringAt(objectAt(metadata['labels'])[SERVICE_NAME_LABEL])
  return service !== '' && services.has(`${stringAt(metadata['namespace'])}/${service}`)
}

function overlaySlice<T extends KubeObject>(slice: T, reports: ReadonlyMap<string, IndexedReport>, goneNodes: ReadonlySet<string>, publishNotReady: boolean): T {
  const endpoints = slice['endpoints']
  if (!Array.isArray(endpoints)) return slice
  let changed = false
  const adjusted = endpoints.map((endpoint: unknown) => {
    if (!isRecord(endpoint)) return endpoint
    const next = overlayEndpoint(endpoint, verdictFor(endpoint, reports, goneNodes), publishNotReady)
    if (next !== endpoint) changed = true
    return next
  })
  // The adjusted slice has the input's shape with other boolean values, so it is still a T.
  return changed ? ({ ...slice, endpoints: adjusted } as T) : slice
}

function verdictFor(endpoint: KubeObject, reports: ReadonlyMap<string, IndexedReport>, goneNodes: ReadonlySet<string>): Verdict {
  const nodeName = stringAt(endpoint['nodeName'])
  const addresses = stringsAt(endpoint['addresses'])
  const targetRef = objectAt(endpoint['targetRef'])
  const uid = stringAt(targetRef['kind']) === 'Pod' || targetRef['kind'] === undefined ? stringAt(targetRef['uid']) : ''
  if (nodeName !== '') {
    const indexed = reports.get(nodeName)
    if (indexed === undefined) return goneNodes.has(nodeName) ? GONE : UNKNOWN
    const pod = findPod(indexed, uid, addresses)
    if (pod !== undefined) return addresses.includes(pod.ip) ? { kind: 'present', pod } : GONE
    return indexed.report.complete ? GONE : UNKNOWN
  }
  // Without a node name only a positive match says anything: absence from one node's report
  // does not mean the pod is gone from every node.
  for (const indexed of reports.values()) {
    const pod = findPod(indexed, uid, addresses)
    if (pod !== undefined) return addresses.includes(pod.ip) ? { kind: 'present', pod } : GONE
  }
  return UNKNOWN
}

/** The pod of an endpoint in a report: by uid when the endpoint names one, else by a unique address. */
function findPod(indexed: IndexedReport, uid: string, addresses: readonly string[]): PodReport | undefined {
  if (uid !== '') return indexed.byUid.get(uid)
  for (const address of addresses) {
    const pod = indexed.byUniqueIp.get(address)
    if (pod !== undefined) return pod
  }
  return undefined
}

function overlayEndpoint(endpoint: KubeObject, verdict: Verdict, publishNotReady: boolean): KubeObject {
  if (verdict.kind === 'unknown') return endpoint
  const conditions = objectAt(endpoint['conditions'])
  // The API's contract: an unset `ready`/`serving` means true, an unset `terminating` false.
  const current = { ready: conditions['ready'] !== false, serving: conditions['serving'] !== false, terminating: conditions['terminating'] === true }
  let wanted: { ready: boolean; serving: boolean; terminating: boolean }
  if (verdict.kind === 'gone') {
    wanted = { ready: false, serving: false, terminating: current.terminating }
  } else {
    // The store may know of a deletion the node has not seen yet, and the node of one the store
    // has not replicated yet: either makes the endpoint terminating.
    // Gossip only ever takes readiness away: a pod the store does not show ready yet waits for
    // its status to go through the API, so Services route only to pods the API shows ready.
    const terminating = current.terminating || verdict.pod.terminating
    const serving = current.serving && verdict.pod.ready
    wanted = { ready: publishNotReady || (current.ready && serving && !terminating), serving, terminating }
  }
  if (wanted.ready === current.ready && wanted.serving === current.serving && wanted.terminating === current.terminating) return endpoint
  return { ...endpoint, conditions: { ...conditions, ...wanted } }
}

function isRecord(value: unknown): value is KubeObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function objectAt(value: unknown): KubeObject {
  return isRecord(value) ? value : {}
}

function stringAt(value: unknown): string {
  return typeof value === 'string' ? value : ''
}

function stringsAt(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : []
}
