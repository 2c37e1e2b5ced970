/**
 * Names and labels of Flotilla's Docker objects. Names are for people reading `docker ps`
 * (`flotilla_<node>_<namespace>_<pod>_<container>_<attempt>_<uid8>`); the labels are what the
 * runtime relies on, so a name only has to be unique, never parsed.
 */
import { RUNTIME_LABELS, type PodRef } from '../runtime.ts'

/** The pseudo container name of a sandbox, as the kubelet's dockershim called it. */
export const SANDBOX_NAME_PART = 'POD'
/** Longest piece of a name taken from one field, so that names stay readable. */
const NAME_PART_CHARS_MAX = 40

/** Docker allows `[a-zA-Z0-9][a-zA-Z0-9_.-]*`; anything else becomes `-`. */
export function sanitizeNamePart(part: string): string {
  const cleaned = part.replace(/[^a-zA-Z0-9.-]/g, '-').slice(0, NAME_PART_CHARS_MAX)
  return cleaned === '' ? 'x' : cleaned
}

function podNameParts(nodeName: string, pod: PodRef): string[] {
  return [nodeName, pod.namespace, pod.name]
}

/**
 * The Docker name for a sandbox or container. `suffix` (> 0) tells apart objects that would
 * otherwise share a name, such as a pod's second sandbox while the first still exists.
 */
export function dockerObjectName(nodeName: string, pod: PodRef, part: string, attempt: number, suffix: number): string {
  const pieces = ['flotilla', ...podNameParts(nodeName, pod), part, String(attempt), pod.uid.replace(/-/g, '').slice(0, 8)]
  if (suffix > 0) pieces.push(String(suffix))
  return pieces.map((piece, index) => (index === 0 ? piece : sanitizeNamePart(piece))).join('_')
}

/** A `docker ps` label filter for this node's objects of one kind, optionally narrowed. */
export function labelFilter(nodeName: string, kind: 'sandbox' | 'container', extra: Readonly<Record<string, string | undefined>> = {}): { label: string[] } {
  const label = [`${RUNTIME_LABELS.node}=${nodeName}`, `${RUNTIME_LABELS.kind}=${kind}`]
  for (const [key, value] of Object.entries(extra)) if (value !== undefined) label.push(`${key}=${value}`)
  return { label }
}

/** True when the labels say the object belongs to `nodeName` and is of `kind`. */
export function ownedBy(labels: Readonly<Record<string, string>> | null | undefined, nodeName: string, kind: 'sandbox' | 'container'): boolean {
  return labels?.[RUNTIME_LABELS.node] === nodeName && labels[RUNTIME_LABELS.kind] === kind
}
