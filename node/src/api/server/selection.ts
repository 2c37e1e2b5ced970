/**
 * Which objects a list, watch or deletecollection selects: the `labelSelector` and `fieldSelector`
 * query parameters, with the field labels each resource supports.
 *
 * Every resource supports `metadata.name` and `metadata.namespace`; the others are the field
 * labels kube-apiserver registers per resource (its `GetAttrs`/field-label conversion functions).
 * A few labels do not read the field they are named after (events' `source` is
 * `source.component`, jobs' `status.successful` is `status.succeeded`), and some have a value
 * even when the field is absent (a node without `spec.unschedulable` is `false`), so each label
 * has its own reader. Unknown labels and malformed selectors are 400 BadRequest.
 */
import { isJsonObject, type JsonObject, type JsonValue } from '../machinery/canonical.ts'
import { fieldValue, parseFieldSelector, parseLabelSelector, type FieldSelector, type LabelSelector, type Labels } from '../machinery/selectors.ts'
import type { GroupResource } from '../machinery/status.ts'

/** Reads one field label's value from an object. */
type FieldReader = (object: JsonObject) => string

/** The label's value by its dotted path ('' when absent). */
function byPath(path: string): FieldReader {
  return (object) => fieldValue(object, path)
}

/** A number field printed as Kubernetes does (absent: 0). */
function countAt(path: string): FieldReader {
  return (object) => fieldValue(object, path) || '0'
}

/** A boolean field printed as Kubernetes does (absent: false). */
function flagAt(path: string): FieldReader {
  return (object) => (fieldValue(object, path) === 'true' ? 'true' : 'false')
}

function paths(...labels: string[]): Record<string, FieldReader> {
  return Object.fromEntries(labels.map((label) => [label, byPath(label)]))
}

const EVENT_FIELDS: Record<string, FieldReader> = {
  ...paths(
    'involvedObject.kind',
    'involvedObject.namespace',
    'involvedObject.name',
    'involvedObject.uid',
    'involvedObject.apiVersion',
    'involvedObject.resourceVersion',
    'involvedObject.fieldPath',
    'reason',
    'reportingComponent',
    'type',
  ),
  source: byPath('source.component'),
}

/** Field labels beyond metadata.name and metadata.namespace, by `<group>/<resource>` (core: `/pods`). */
const FIELD_LABELS: Readonly<Record<string, Record<string, FieldReader>>> = {
  '/pods': paths('spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'status.phase', 'status.podIP', 'status.nominatedNodeName'),
  '/events': EVENT_FIELDS,
  'events.k8s.io/events': {
    ...paths('regarding.kind', 'regarding.namespace', 'regarding.name', 'regarding.uid', 'regarding.apiVersion', 'regarding.resourceVersion', 'regarding.fieldPath'),
    ...paths('reason', 'reportingController', 'type'),
  },
  '/secrets': paths('type'),
  '/namespaces': paths('status.phase'),
  '/nodes': { 'spec.unschedulable': flagAt('spec.unschedulable') },
  '/services': paths('spec.clusterIP', 'spec.type'),
  'apps/replicasets': { 'status.replicas': countAt('status.replicas') },
  'batch/jobs': { 'status.successful': countAt('status.succeeded') },
}

/** The readers of every field label `resource` supports. */
export function fieldLabelsOf(resource: GroupResource): Readonly<Record<string, FieldReader>> {
  return { ...paths('metadata.name', 'metadata.namespace'), ...(FIELD_LABELS[`${resource.group}/${resource.resource}`] ?? {}) }
}

/** A parsed pair of selectors and the predicate they make. */
export interface Selection {
  readonly labels: LabelSelector
  readonly fields: FieldSelector
  /** True when the object matches both selectors. */
  matches(object: JsonObject): boolean
  /** True when neither selector restricts anything. */
  isEverything(): boolean
}

/**
 * The selection of a request's `labelSelector` and `fieldSelector` for `resource`.
 * `extraFieldSelector` narrows it further (a watch on a single object's URL selects its name).
 * @throws ApiError 400 for malformed selectors and unsupported field labels.
 */
export function selectionOf(resource: GroupResource, url: URL, extraFieldSelector = ''): Selection {
  const labels = parseLabelSelector(url.searchParams.get('labelSelector') ?? '')
  const readers = fieldLabelsOf(resource)
  const fieldText = [url.searchParams.get('fieldSelector') ?? '', extraFieldSelector].filter((part) => part !== '').join(',')
  const fields = parseFieldSelector(fieldText, (label) => Object.hasOwn(readers, label))
  return {
    labels,
    fields,
    matches: (object) => {
      const metadata = isJsonObject(object['metadata']) ? object['metadata'] : {}
      if (!labels.matches(labelsOf(metadata['labels']))) return false
      return fields.requirements.every(({ field, operator, value }) => (readers[field]!(object) === value) === (operator === '='))
    },
    isEverything: () => labels.isEmpty() && fields.isEmpty(),
  }
}

/** Labels as a string map; a malformed `labels` field selects like no labels. */
function labelsOf(value: JsonValue | undefined): Labels {
  if (!isJsonObject(value)) return undefined
  const labels: Record<string, string> = {}
  for (const [key, item] of Object.entries(value)) if (typeof item === 'string') labels[key] = item
  return labels
}
