/**
 * Predicates over pods that the snapshot can count per node: the label selector and namespaces of
 * an inter-pod affinity term, or the selector of a topology spread constraint.
 *
 * Every matcher has a `key` that identifies the predicate exactly: two matchers with the same key
 * match the same pods. The snapshot memoizes per-node counts by key, which is what lets the 10,000
 * pods of one Deployment share one count table instead of each rescanning every pod.
 */
import type { LabelSelector } from '../api/machinery/selectors.ts'
import type { PodInfo } from './pod-info.ts'

/** The labels of a namespace, for `namespaceSelector`; undefined when the namespace is unknown. */
export type NamespaceLabelsLookup = (namespace: string) => Readonly<Record<string, string>> | undefined

/** A predicate over pods with a stable identity. */
export interface PodMatcher {
  /** Equal keys mean equal predicates (namespaces, selectors and flags all appear in it). */
  readonly key: string
  /** True when the pod satisfies the predicate. */
  matches(pod: PodInfo, namespaceLabels: NamespaceLabelsLookup): boolean
  /** True when the predicate depends on namespace labels (its memoized counts go stale with them). */
  readonly readsNamespaceLabels: boolean
}

/** How a matcher picks namespaces. */
export interface NamespaceScope {
  /** Namespaces named explicitly. */
  readonly names: ReadonlySet<string>
  /** Namespaces whose labels match; undefined when the term has no namespaceSelector. */
  readonly selector: LabelSelector | undefined
}

/** A matcher for pods in `scope` whose labels satisfy `selector`. */
export function selectorMatcher(options: {
  scope: NamespaceScope
  selector: LabelSelector
  /** Text that distinguishes `selector` from others (its canonical form, or a marker for "nothing"). */
  selectorKey: string
  /** Leave out pods being deleted (topology spread counts them out; affinity keeps them). */
  skipTerminating: boolean
}): PodMatcher {
  const { scope, selector, selectorKey, skipTerminating } = options
  const names = [...scope.names].sort().join(',')
  const namespaceKey = scope.selector === undefined ? '-' : `sel(${scope.selector.toString()})`
  const key = `${names}|${namespaceKey}|${selectorKey}|${skipTerminating ? 'live' : 'all'}`
  const namespaceSelector = scope.selector
  return {
    key,
    readsNamespaceLabels: namespaceSelector !== undefined,
    matches(pod, namespaceLabels) {
      if (skipTerminating && pod.terminating) return false
      if (!scope.names.has(pod.namespace)) {
        if (namespaceSelector === undefined) return false
        if (!namespaceSelector.matches(namespaceLabels(pod.namespace) ?? {})) return false
      }
      return selector.matches(pod.labels)
    },
  }
}

/** A matcher for pods that satisfy every one of `matchers` (inter-pod affinity counts those). */
export function allOfMatcher(matchers: readonly PodMatcher[]): PodMatcher {
  return {
    key: `all(${matchers.map((matcher) => matcher.key).join(';')})`,
    readsNamespaceLabels: matchers.some((matcher) => matcher.readsNamespaceLabels),
    matches(pod, namespaceLabels) {
      if (matchers.length === 0) return false
      for (const matcher of matchers) if (!matcher.matches(pod, namespaceLabels)) return false
      return true
    },
  }
}
