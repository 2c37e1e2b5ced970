/**
 * Label maps and label selectors inside specs (`spec.selector`, `nodeSelector`, affinity terms),
 * checked the way `ValidateLabels` and `ValidateLabelSelector` check them.
 */
import { isJsonObject, type JsonObject, type JsonValue } from '../../machinery/canonical.ts'
import { fieldInvalid, type FieldError } from '../../machinery/field-errors.ts'
import { labelValueErrors, qualifiedNameErrors } from '../../machinery/names.ts'
import { labelSelectorErrors, labelSelectorFromObject, type LabelSelector, type LabelSelectorObject } from '../../machinery/selectors.ts'
import { childPath, indexPath, isSet, sortedKeys } from './json-access.ts'

/** A string-to-string map of labels: keys qualified names, values label values (`ValidateLabels`). */
export function labelMapErrors(value: JsonValue | undefined, path: string): FieldError[] {
  if (!isSet(value)) return []
  if (!isJsonObject(value)) return [fieldInvalid(path, value, 'must be a map of strings')]
  const errors: FieldError[] = []
  for (const key of sortedKeys(value)) {
    for (const message of qualifiedNameErrors(key)) errors.push(fieldInvalid(path, key, message))
    const labelValue = value[key]
    if (typeof labelValue !== 'string') errors.push(fieldInvalid(path, labelValue ?? null, 'must be a string'))
    else for (const message of labelValueErrors(labelValue)) errors.push(fieldInvalid(path, labelValue, message))
  }
  return errors
}

/** A label-name-only check (`ValidateLabelName`), for toleration and taint keys and topology keys. */
export function labelNameErrors(value: string, path: string): FieldError[] {
  return qualifiedNameErrors(value).map((message) => fieldInvalid(path, value, message))
}

/** Problems with the shape of a LabelSelector object that the typed checks cannot see. */
function selectorShapeErrors(selector: JsonObject, path: string): FieldError[] {
  const errors: FieldError[] = []
  const matchLabels = selector['matchLabels']
  if (isSet(matchLabels) && !isJsonObject(matchLabels)) errors.push(fieldInvalid(childPath(path, 'matchLabels'), matchLabels, 'must be a map of strings'))
  if (isJsonObject(matchLabels)) {
    for (const key of sortedKeys(matchLabels)) {
      const labelValue = matchLabels[key]
      if (typeof labelValue !== 'string') errors.push(fieldInvalid(childPath(path, 'matchLabels'), labelValue ?? null, 'must be a string'))
    }
  }
  const expressions = selector['matchExpressions']
  if (isSet(expressions) && !Array.isArray(expressions)) errors.push(fieldInvalid(childPath(path, 'matchExpressions'), expressions, 'must be a list'))
  if (Array.isArray(expressions)) {
    expressions.forEach((expression, i) => {
      const at = indexPath(childPath(path, 'matchExpressions'), i)
      if (!isJsonObject(expression)) errors.push(fieldInvalid(at, expression, 'must be an object'))
      else if (typeof expression['key'] !== 'string') errors.push(fieldInvalid(childPath(at, 'key'), expression['key'] ?? null, 'must be a string'))
      else if (isSet(expression['values']) && (!Array.isArray(expression['values']) || expression['values'].some((item) => typeof item !== 'string'))) {
        errors.push(fieldInvalid(childPath(at, 'values'), expression['values'], 'must be a list of strings'))
      }
    })
  }
  return errors
}

/**
 * All problems with a LabelSelector object under `path` (`ValidateLabelSelector`); an absent
 * selector has none (callers that require one check that themselves).
 */
export function selectorErrors(value: JsonValue | undefined, path: string): FieldError[] {
  if (!isSet(value)) return []
  if (!isJsonObject(value)) return [fieldInvalid(path, value, 'must be a label selector object')]
  const shape = selectorShapeErrors(value, path)
  if (shape.length > 0) return shape
  return labelSelectorErrors(value as unknown as LabelSelectorObject, path)
}

/** True when the selector object has neither matchLabels nor matchExpressions. */
export function isEmptySelector(value: JsonObject): boolean {
  const matchLabels = value['matchLabels']
  const expressions = value['matchExpressions']
  return (!isJsonObject(matchLabels) || Object.keys(matchLabels).length === 0) && (!Array.isArray(expressions) || expressions.length === 0)
}

/** The selector a valid LabelSelector object stands for; undefined when it has errors. */
export function parsedSelector(value: JsonValue | undefined, path: string): LabelSelector | undefined {
  if (!isJsonObject(value) || selectorErrors(value, path).length > 0) return undefined
  return labelSelectorFromObject(value as unknown as LabelSelectorObject)
}

/** The object's labels as a string map (non-string values dropped). */
export function labelsOf(value: JsonValue | undefined): Record<string, string> {
  const labels: Record<string, string> = {}
  if (!isJsonObject(value)) return labels
  for (const [key, item] of Object.entries(value)) if (typeof item === 'string') labels[key] = item
  return labels
}
