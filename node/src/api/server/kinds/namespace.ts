/**
 * Namespaces (core/v1): the `kubernetes.io/metadata.name` label that lets selectors pick
 * namespaces by name, the `kubernetes` finalizer and Active phase of a new namespace, and valid
 * spec finalizers. (The name itself must be a DNS label; see metadata.ts.)
 */
import type { JsonObject } from '../../machinery/canonical.ts'
import { fieldInvalid, type FieldError } from '../../machinery/field-errors.ts'
import { qualifiedNameErrors } from '../../machinery/names.ts'
import { messagesAsErrors } from './field-checks.ts'
import { ensureObject, listAt, objectAt, setDefault, stringAt } from './json-access.ts'

export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name'
const KUBERNETES_FINALIZER = 'kubernetes'

/**
 * Fills a Namespace's defaults in place. The name label always mirrors the name (Kubernetes
 * overwrites a different value). On create the `kubernetes` finalizer is added, so that deleting
 * the namespace waits until its contents are gone.
 */
export function defaultNamespace(namespace: JsonObject, old: JsonObject | undefined): void {
  const metadata = ensureObject(namespace, 'metadata')
  const name = stringAt(metadata['name'])
  if (name !== '') ensureObject(metadata, 'labels')[NAMESPACE_NAME_LABEL] = name
  if (old === undefined) {
    const spec = ensureObject(namespace, 'spec')
    const finalizers = listAt(spec['finalizers'])
    if (!finalizers.includes(KUBERNETES_FINALIZER)) spec['finalizers'] = [...finalizers, KUBERNETES_FINALIZER]
  }
  setDefault(ensureObject(namespace, 'status'), 'phase', 'Active')
}

/** Problems of a Namespace: its spec finalizers are qualified or standard names. */
export function namespaceErrors(namespace: JsonObject): FieldError[] {
  const errors: FieldError[] = []
  for (const finalizer of listAt(objectAt(namespace['spec'])['finalizers'])) {
    const name = stringAt(finalizer)
    errors.push(...messagesAsErrors(qualifiedNameErrors(name), 'spec.finalizers', name))
    if (!name.includes('/') && name !== KUBERNETES_FINALIZER) errors.push(fieldInvalid('spec.finalizers', name, 'name is neither a standard finalizer name nor is it fully qualified'))
  }
  return errors
}
