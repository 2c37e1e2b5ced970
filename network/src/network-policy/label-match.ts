/**
 * metav1.LabelSelector matching for the policy planner: `matchLabels` AND every
 * `matchExpressions` requirement (In, NotIn, Exists, DoesNotExist). An empty selector matches
 * everything; a selector with an unknown operator matches nothing (the API rejects such
 * selectors, so only a corrupt object gets here, and selecting nothing is the safe reading).
 */

/** Labels as in `metadata.labels`. */
export type Labels = Readonly<Record<string, string>>

function objectAt(value: unknown): Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Readonly<Record<string, unknown>>) : {}
}

/** True when `labels` satisfy the LabelSelector object `selector` (absent = empty = everything). */
export function selectorMatches(selector: unknown, labels: Labels): boolean {
  const object = objectAt(selector)
  for (const [key, value] of Object.entries(objectAt(object['matchLabels']))) {
    if (labels[key] !== value) return false
  }
  const expressions = Array.isArray(object['matchExpressions']) ? object['matchExpressions'] : []
  for (const expression of expressions.map(objectAt)) {
    const key = typeof expression['key'] === 'string' ? expression['key'] : ''
    const values = Array.isArray(expression['values']) ? expression['values'] : []
    const has = Object.hasOwn(labels, key)
    switch (expression['operator']) {
      case 'In':
        if (!has || !values.includes(labels[key])) return false
        break
      case 'NotIn':
        if (has && values.includes(labels[key])) return false
        break
      case 'Exists':
        if (!has) return false
        break
      case 'DoesNotExist':
        if (has) return false
        break
      default:
        return false
    }
  }
  return true
}

/** The string entries of a label map (non-string values dropped). */
export function labelsOf(value: unknown): Labels {
  const labels: Record<string, string> = {}
  for (const [key, item] of Object.entries(objectAt(value))) if (typeof item === 'string') labels[key] = item
  return labels
}
