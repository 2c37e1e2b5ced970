/**
 * PodInfo: the parts of a Pod object the scheduler reads, parsed once.
 *
 * A pod is parsed when it enters the snapshot or the scheduling queue, never in the per-node loop:
 * requests become numbers, selectors become matchers, tolerations and affinity terms become small
 * records. A PodInfo is immutable; placing a pod on a node makes a copy with `nodeName` set.
 */
import type { JsonObject } from '../api/machinery/canonical.ts'
import { FlotillaError } from '../../../lib/errors.ts'
import { labelSelectorFromObject, NOTHING, type LabelSelector, type LabelSelectorObject } from '../api/machinery/selectors.ts'
import { numberAt, objectAt, objectsAt, stringAt, stringMapAt, stringsAt } from './json-access.ts'
import { parsePreferredNodeTerms, parseRequiredNodeSelection, type RequiredNodeSelection, type WeightedNodeSelectorTerm } from './node-selector.ts'
import { selectorMatcher, type NamespaceScope, type PodMatcher } from './pod-matcher.ts'
import { isZeroRequest, podRequests, type Resources } from './resources.ts'
import { parseTolerations, type Toleration } from './taints.ts'

/** A pod spec the scheduler cannot interpret (for example an invalid label selector in a term). */
export class InvalidPodSpecError extends FlotillaError {
  override name = 'InvalidPodSpecError'
}

/** One inter-pod (anti-)affinity term: which pods, and within which topology domain. */
export interface AffinityTerm {
  readonly matcher: PodMatcher
  readonly topologyKey: string
  /** The preference weight (1–100); 1 for required terms. */
  readonly weight: number
}

/** A pod's inter-pod affinity and anti-affinity, required and preferred. */
export interface PodAffinityTerms {
  readonly requiredAffinity: readonly AffinityTerm[]
  readonly requiredAntiAffinity: readonly AffinityTerm[]
  readonly preferredAffinity: readonly AffinityTerm[]
  readonly preferredAntiAffinity: readonly AffinityTerm[]
}

/** A topology spread constraint with its defaults applied. */
export interface SpreadConstraint {
  readonly maxSkew: number
  readonly topologyKey: string
  readonly whenUnsatisfiable: 'DoNotSchedule' | 'ScheduleAnyway'
  /** Pods of the same namespace matching the selector (merged with `matchLabelKeys`). */
  readonly matcher: PodMatcher
  /** Domains below this count make the global minimum 0 (default 1). */
  readonly minDomains: number
  /** Honor: only nodes matching the pod's node affinity/selector count (default). */
  readonly nodeAffinityPolicy: 'Honor' | 'Ignore'
  /** Honor: only nodes whose taints the pod tolerates count; Ignore is the default. */
  readonly nodeTaintsPolicy: 'Honor' | 'Ignore'
}

/** A host port a container binds. */
export interface HostPort {
  readonly ip: string
  readonly protocol: string
  readonly port: number
}

/** The scheduler's view of a pod. */
export interface PodInfo {
  readonly object: JsonObject
  /** `namespace/name`: the identity in the snapshot. */
  readonly key: string
  readonly namespace: string
  readonly name: string
  readonly uid: string
  readonly labels: Readonly<Record<string, string>>
  /** The node the pod is on (bound or assumed) in the snapshot; '' while it is unplaced. */
  readonly nodeName: string
  /** `spec.nodeName` of the object: a pod that names a node may only go there. */
  readonly requestedNodeName: string
  /** True when `metadata.deletionTimestamp` is set. */
  readonly terminating: boolean
  readonly requests: Resources
  /** Requests with 100m cpu and 200Mi memory for containers that name none (for scoring). */
  readonly nonZeroMilliCpu: number
  readonly nonZeroMemoryBytes: number
  /** True when the pod requests no resource at all. */
  readonly zeroRequest: boolean
  readonly tolerations: readonly Toleration[]
  readonly nodeSelection: RequiredNodeSelection
  readonly preferredNodeTerms: readonly WeightedNodeSelectorTerm[]
  /** Undefined when the pod has no inter-pod affinity of any kind. */
  readonly affinity: PodAffinityTerms | undefined
  readonly spreadConstraints: readonly SpreadConstraint[]
  readonly hostPorts: readonly HostPort[]
}

/**
 * Parses a Pod object. `nodeName` overrides where the pod is placed (an assumed binding); by
 * default it is the object's `spec.nodeName`.
 * @throws InvalidPodSpecError when a selector in an affinity term or spread constraint is invalid.
 */
export function podInfoOf(pod: JsonObject, nodeName?: string): PodInfo {
  const metadata = objectAt(pod, 'metadata')
  const spec = objectAt(pod, 'spec')
  const namespace = stringAt(metadata, 'namespace', 'default')
  const name = stringAt(metadata, 'name')
  const labels = stringMapAt(metadata, 'labels')
  const requests = podRequests(spec)
  const requestedNodeName = stringAt(spec, 'nodeName')
  return {
    object: pod,
    key: `${namespace}/${name}`,
    namespace,
    name,
    uid: stringAt(metadata, 'uid'),
    labels,
    nodeName: nodeName ?? requestedNodeName,
    requestedNodeName,
    terminating: metadata?.deletionTimestamp !== undefined && metadata.deletionTimestamp !== null,
    requests: requests.requests,
    nonZeroMilliCpu: requests.nonZeroMilliCpu,
    nonZeroMemoryBytes: requests.nonZeroMemoryBytes,
    zeroRequest: isZeroRequest(requests.requests),
    tolerations: parseTolerations(spec),
    nodeSelection: parseRequiredNodeSelection(spec),
    preferredNodeTerms: parsePreferredNodeTerms(spec),
    affinity: parsePodAffinity(spec, namespace),
    spreadConstraints: parseSpreadConstraints(spec, namespace, labels),
    hostPorts: parseHostPorts(spec),
  }
}

/**
 * Parses a pod that is already bound. Its invalid affinity terms or spread constraints are
 * dropped instead of thrown on: the pod runs regardless, and its resources must still be counted.
 */
export function boundPodInfoOf(pod: JsonObject): PodInfo {
  try {
    return podInfoOf(pod)
  } catch (error) {
    if (!(error instanceof InvalidPodSpecError)) throw error
    const spec = objectAt(pod, 'spec') ?? {}
    const { affinity: _affinity, topologySpreadConstraints: _constraints, ...rest } = spec
    const nodeAffinity = objectAt(objectAt(spec, 'affinity'), 'nodeAffinity')
    const stripped: JsonObject = nodeAffinity === undefined ? rest : { ...rest, affinity: { nodeAffinity } }
    return podInfoOf({ ...pod, spec: stripped })
  }
}

/** True for a PodInfo rather than a Pod object (Pod objects have no top-level `key`). */
export function isPodInfo(pod: PodInfo | JsonObject): pod is PodInfo {
  return typeof (pod as Partial<PodInfo>).key === 'string' && (pod as Partial<PodInfo>).requests !== undefined
}

/** The same pod placed on `nodeName` (an assumed binding). */
export function placedOn(pod: PodInfo, nodeName: string): PodInfo {
  return { ...pod, nodeName }
}

function parsePodAffinity(spec: JsonObject | undefined, namespace: string): PodAffinityTerms | undefined {
  const affinity = objectAt(spec, 'affinity')
  const podAffinity = objectAt(affinity, 'podAffinity')
  const podAntiAffinity = objectAt(affinity, 'podAntiAffinity')
  if (podAffinity === undefined && podAntiAffinity === undefined) return undefined
  const terms: PodAffinityTerms = {
    requiredAffinity: requiredTerms(podAffinity, namespace),
    requiredAntiAffinity: requiredTerms(podAntiAffinity, namespace),
    preferredAffinity: preferredTerms(podAffinity, namespace),
    preferredAntiAffinity: preferredTerms(podAntiAffinity, namespace),
  }
  const empty = Object.values(terms).every((list: readonly AffinityTerm[]) => list.length === 0)
  return empty ? undefined : terms
}

function requiredTerms(affinity: JsonObject | undefined, namespace: string): readonly AffinityTerm[] {
  return objectsAt(affinity, 'requiredDuringSchedulingIgnoredDuringExecution').map((term) => affinityTerm(term, namespace, 1))
}

function preferredTerms(affinity: JsonObject | undefined, namespace: string): readonly AffinityTerm[] {
  const terms: AffinityTerm[] = []
  for (const entry of objectsAt(affinity, 'preferredDuringSchedulingIgnoredDuringExecution')) {
    const weight = numberAt(entry, 'weight') ?? 0
    const term = objectAt(entry, 'podAffinityTerm')
    if (weight !== 0 && term !== undefined) terms.push(affinityTerm(term, namespace, weight))
  }
  return terms
}

function affinityTerm(term: JsonObject, ownNamespace: string, weight: number): AffinityTerm {
  const names = new Set(stringsAt(term, 'namespaces'))
  const namespaceSelectorObject = objectAt(term, 'namespaceSelector')
  // Neither namespaces nor a namespaceSelector means "my own namespace"; an empty selector ({})
  // means every namespace.
  if (names.size === 0 && namespaceSelectorObject === undefined) names.add(ownNamespace)
  const scope: NamespaceScope = {
    names,
    selector: namespaceSelectorObject === undefined ? undefined : parseSelector(namespaceSelectorObject, 'namespaceSelector'),
  }
  const selectorObject = objectAt(term, 'labelSelector')
  // An absent labelSelector selects no pods (metav1.LabelSelectorAsSelector of nil).
  const selector = selectorObject === undefined ? NOTHING : parseSelector(selectorObject, 'labelSelector')
  const selectorKey = selectorObject === undefined ? '<none>' : `(${selector.toString()})`
  return {
    matcher: selectorMatcher({ scope, selector, selectorKey, skipTerminating: false }),
    topologyKey: stringAt(term, 'topologyKey'),
    weight,
  }
}

function parseSelector(object: JsonObject, field: string): LabelSelector {
  try {
    return labelSelectorFromObject(object as unknown as LabelSelectorObject)
  } catch (error) {
    throw new InvalidPodSpecError(`Cannot parse ${field}: ${(error as Error).message}`, { cause: error })
  }
}

function parseSpreadConstraints(spec: JsonObject | undefined, namespace: string, labels: Readonly<Record<string, string>>): readonly SpreadConstraint[] {
  const constraints: SpreadConstraint[] = []
  for (const constraint of objectsAt(spec, 'topologySpreadConstraints')) {
    const selectorObject = withMatchLabelKeys(objectAt(constraint, 'labelSelector'), stringsAt(constraint, 'matchLabelKeys'), labels)
    const selector = selectorObject === undefined ? NOTHING : parseSelector(selectorObject, 'topologySpreadConstraints.labelSelector')
    const selectorKey = selectorObject === undefined ? '<none>' : `(${selector.toString()})`
    constraints.push({
      maxSkew: numberAt(constraint, 'maxSkew') ?? 1,
      topologyKey: stringAt(constraint, 'topologyKey'),
      whenUnsatisfiable: stringAt(constraint, 'whenUnsatisfiable') === 'ScheduleAnyway' ? 'ScheduleAnyway' : 'DoNotSchedule',
      matcher: selectorMatcher({ scope: { names: new Set([namespace]), selector: undefined }, selector, selectorKey, skipTerminating: true }),
      minDomains: numberAt(constraint, 'minDomains') ?? 1,
      nodeAffinityPolicy: stringAt(constraint, 'nodeAffinityPolicy') === 'Ignore' ? 'Ignore' : 'Honor',
      nodeTaintsPolicy: stringAt(constraint, 'nodeTaintsPolicy') === 'Honor' ? 'Honor' : 'Ignore',
    })
  }
  return constraints
}

/** The selector with `key In (value)` added for each matchLabelKeys key the pod has a label for. */
function withMatchLabelKeys(selector: JsonObject | undefined, keys: readonly string[], labels: Readonly<Record<string, string>>): JsonObject | undefined {
  if (selector === undefined || keys.length === 0) return selector
  const expressions = [...objectsAt(selector, 'matchExpressions')]
  for (const key of keys) {
    const value = labels[key]
    if (value !== undefined) expressions.push({ key, operator: 'In', values: [value] })
  }
  return { ...selector, matchExpressions: expressions }
}

function parseHostPorts(spec: JsonObject | undefined): readonly HostPort[] {
  const ports: HostPort[] = []
  for (const container of objectsAt(spec, 'containers')) {
    for (const port of objectsAt(container, 'ports')) {
      const hostPort = numberAt(port, 'hostPort') ?? 0
      if (hostPort <= 0) continue
      ports.push({ ip: stringAt(port, 'hostIP', '0.0.0.0') || '0.0.0.0', protocol: stringAt(port, 'protocol', 'TCP') || 'TCP', port: hostPort })
    }
  }
  return ports
}
