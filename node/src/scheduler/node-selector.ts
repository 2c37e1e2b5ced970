/**
 * Node selectors: a pod's `spec.nodeSelector` and the NodeSelectorTerms of its node affinity,
 * matched against a node's labels and name with the rules of k8s.io/component-helpers
 * `nodeaffinity`.
 *
 * - A term is the AND of its `matchExpressions` (on labels) and `matchFields` (only
 *   `metadata.name`); a term with neither matches no node, and so does a term with an invalid
 *   requirement (unknown operator, `In` without values, `Gt` with a non-integer).
 * - The required affinity is the OR of its terms; preferred terms each add their weight.
 * - Operators: In, NotIn (also true when the label is absent), Exists, DoesNotExist, and Gt/Lt,
 *   which compare the label as a 64-bit integer with the single value (a label that is not an
 *   integer never matches).
 */
import type { JsonObject } from '../api/machinery/canonical.ts'
import { numberAt, objectAt, objectsAt, stringAt, stringMapAt, stringsAt } from './json-access.ts'

/** One parsed requirement; `matches` reads a label value (or the node name for matchFields). */
interface Requirement {
  readonly key: string
  readonly test: (value: string | undefined) => boolean
}

/** A parsed NodeSelectorTerm. `valid` is false when it can match nothing. */
export interface NodeSelectorTerm {
  readonly labelRequirements: readonly Requirement[]
  readonly fieldRequirements: readonly Requirement[]
  readonly valid: boolean
}

/** A preferred scheduling term and its weight (1–100). */
export interface WeightedNodeSelectorTerm {
  readonly weight: number
  readonly term: NodeSelectorTerm
}

/** Everything a pod says about the nodes it must run on. */
export interface RequiredNodeSelection {
  /** `spec.nodeSelector`: every label must be present with this value. */
  readonly nodeSelector: Readonly<Record<string, string>> | undefined
  /** Required affinity terms (OR), or undefined when the pod has none. */
  readonly requiredTerms: readonly NodeSelectorTerm[] | undefined
}

/** Parses a NodeSelectorTerm object. */
export function parseNodeSelectorTerm(term: JsonObject): NodeSelectorTerm {
  const labelRequirements: Requirement[] = []
  const fieldRequirements: Requirement[] = []
  let valid = true
  for (const expression of objectsAt(term, 'matchExpressions')) {
    const requirement = parseRequirement(expression, LABEL_OPERATORS)
    if (requirement === undefined) valid = false
    else labelRequirements.push(requirement)
  }
  for (const expression of objectsAt(term, 'matchFields')) {
    const requirement = parseRequirement(expression, FIELD_OPERATORS)
    if (requirement === undefined || requirement.key !== 'metadata.name') valid = false
    else fieldRequirements.push(requirement)
  }
  if (labelRequirements.length === 0 && fieldRequirements.length === 0) valid = false
  return { labelRequirements, fieldRequirements, valid }
}

const LABEL_OPERATORS: ReadonlySet<string> = new Set(['In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt'])
const FIELD_OPERATORS: ReadonlySet<string> = new Set(['In', 'NotIn'])

function parseRequirement(expression: JsonObject, operators: ReadonlySet<string>): Requirement | undefined {
  const key = stringAt(expression, 'key')
  const operator = stringAt(expression, 'operator')
  const values = stringsAt(expression, 'values')
  if (!operators.has(operator)) return undefined
  switch (operator) {
    case 'In':
    case 'NotIn': {
      if (values.length === 0) return undefined
      const set = new Set(values)
      const negate = operator === 'NotIn'
      return { key, test: (value) => (value !== undefined && set.has(value)) !== negate }
    }
    case 'Exists':
    case 'DoesNotExist': {
      if (values.length > 0) return undefined
      const present = operator === 'Exists'
      return { key, test: (value) => (value !== undefined) === present }
    }
    default: {
      const bound = values.length === 1 ? parseInt64(values[0] as string) : undefined
      if (bound === undefined) return undefined
      const greater = operator === 'Gt'
      return {
        key,
        test: (value) => {
          const label = value === undefined ? undefined : parseInt64(value)
          if (label === undefined) return false
          return greater ? label > bound : label < bound
        },
      }
    }
  }
}

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

function parseInt64(text: string): bigint | undefined {
  if (!/^[+-]?[0-9]+$/.test(text)) return undefined
  const value = BigInt(text)
  return value < INT64_MIN || value > INT64_MAX ? undefined : value
}

/** True when the node (its name and labels) satisfies the term. */
export function termMatchesNode(term: NodeSelectorTerm, nodeName: string, labels: Readonly<Record<string, string>>): boolean {
  if (!term.valid) return false
  for (const requirement of term.labelRequirements) {
    if (!requirement.test(Object.hasOwn(labels, requirement.key) ? labels[requirement.key] : undefined)) return false
  }
  for (const requirement of term.fieldRequirements) if (!requirement.test(nodeName)) return false
  return true
}

/** Reads `spec.nodeSelector` and the required node affinity of a pod spec. */
export function parseRequiredNodeSelection(spec: JsonObject | undefined): RequiredNodeSelection {
  const selector = objectAt(spec, 'nodeSelector')
  const nodeSelector = selector === undefined ? undefined : stringMapAt(spec, 'nodeSelector')
  const required = objectAt(objectAt(objectAt(spec, 'affinity'), 'nodeAffinity'), 'requiredDuringSchedulingIgnoredDuringExecution')
  const requiredTerms = required === undefined ? undefined : objectsAt(required, 'nodeSelectorTerms').map(parseNodeSelectorTerm)
  return { nodeSelector, requiredTerms }
}

/** Reads the preferred node affinity terms of a pod spec. */
export function parsePreferredNodeTerms(spec: JsonObject | undefined): readonly WeightedNodeSelectorTerm[] {
  const nodeAffinity = objectAt(objectAt(spec, 'affinity'), 'nodeAffinity')
  const preferred = objectsAt(nodeAffinity, 'preferredDuringSchedulingIgnoredDuringExecution')
  const terms: WeightedNodeSelectorTerm[] = []
  for (const entry of preferred) {
    const weight = numberAt(entry, 'weight') ?? 0
    const preference = objectAt(entry, 'preference')
    if (weight === 0 || preference === undefined) continue
    terms.push({ weight, term: parseNodeSelectorTerm(preference) })
  }
  return terms
}

/** True when the pod imposes no node selection at all. */
export function selectsEveryNode(selection: RequiredNodeSelection): boolean {
  return selection.nodeSelector === undefined && selection.requiredTerms === undefined
}

/**
 * True when the node satisfies the pod's nodeSelector and required node affinity. An affinity
 * that is present but lists no terms matches no node, as in Kubernetes.
 */
export function nodeSelectionMatches(selection: RequiredNodeSelection, nodeName: string, labels: Readonly<Record<string, string>>): boolean {
  if (selection.nodeSelector !== undefined) {
    for (const key in selection.nodeSelector) {
      if (labels[key] !== selection.nodeSelector[key] || !Object.hasOwn(labels, key)) return false
    }
  }
  if (selection.requiredTerms === undefined) return true
  for (const term of selection.requiredTerms) if (termMatchesNode(term, nodeName, labels)) return true
  return false
}
