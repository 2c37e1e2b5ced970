/**
 * The hash of a container's spec that the agent stores on each runtime container
 * (RUNTIME_LABELS.specHash), so that a later sync can tell whether the pod's container changed
 * and must be recreated — the kubelet's `HashContainer`.
 *
 * Unlike the kubelet (which hashes the whole container JSON), only the fields that shape the
 * running process are hashed. The API server fills defaults into every stored container
 * (`terminationMessagePath`, `imagePullPolicy`, …); hashing those would restart every container
 * on this node the day a new default appears. Probes are left out too: changing a probe changes
 * how the agent watches the container, not the container. The field list is versioned: a change
 * to it must bump HASH_VERSION, knowing that running containers then restart once.
 */
import { createHash } from 'node:crypto'
import { canonicalJson, type JsonObject, type JsonValue } from '../api/machinery/canonical.ts'

const HASH_VERSION = 'v1'

/** The container fields whose change means a new container. */
export const HASHED_CONTAINER_FIELDS = [
  'name',
  'image',
  'command',
  'args',
  'workingDir',
  'env',
  'envFrom',
  'ports',
  'volumeMounts',
  'resources',
  'securityContext',
  'stdin',
  'stdinOnce',
  'tty',
] as const

/** 16 hex digits identifying the running-relevant content of `container` (key order and nulls ignored). */
export function containerSpecHash(container: JsonObject): string {
  const hashed: Record<string, JsonValue> = {}
  for (const field of HASHED_CONTAINER_FIELDS) {
    const value = container[field]
    if (value !== undefined && value !== null) hashed[field] = value
  }
  return createHash('sha256').update(`${HASH_VERSION}\n${canonicalJson(hashed)}`).digest('hex').slice(0, 16)
}
