/**
 * The `pod-template-hash`: the short, stable name of a pod template. The Deployment controller
 * names each ReplicaSet `<deployment>-<hash>` and adds `pod-template-hash=<hash>` to its labels,
 * selector and pods, so ReplicaSets of one Deployment never fight over pods.
 *
 * Kubernetes (controller.ComputeHash) feeds a printout of the Go struct into FNV-1a (32 bit), then,
 * when the Deployment has seen hash collisions, the collision count as 4 little-endian bytes, and
 * writes the sum in decimal with each digit mapped into the alphabet `bcdfghjklmnpqrstvwxz2456789`
 * (rand.SafeEncodeString: no vowels, no 0/1/3, so no words and no look-alikes). We hash the
 * canonical JSON instead of a Go printout: equal templates (ignoring key order and nulls) still
 * get equal hashes, but the values differ from a real cluster's, which nothing depends on.
 */
import { canonicalJson, type JsonObject } from '../api/machinery/canonical.ts'
import { GENERATED_NAME_ALPHABET } from '../api/machinery/names.ts'
import { labelsOf, metadataOf } from './object-fields.ts'

/** The label (and selector key) that ties a ReplicaSet and its pods to one template. */
export const POD_TEMPLATE_HASH_LABEL = 'pod-template-hash'

const FNV32_OFFSET_BASIS = 0x811c9dc5
const FNV32_PRIME = 0x01000193
const UTF8 = new TextEncoder()

/** FNV-1a, 32 bits, continuing from `hash` (start with the offset basis). */
export function fnv32a(bytes: Uint8Array, hash = FNV32_OFFSET_BASIS): number {
  let result = hash >>> 0
  for (const byte of bytes) {
    result = Math.imul(result ^ byte, FNV32_PRIME) >>> 0
  }
  return result
}

/**
 * Maps every character into the safe alphabet by its code modulo the alphabet length, as
 * Kubernetes' rand.SafeEncodeString does (digits map to `4 5 6 7 8 9 b c d f`).
 */
export function safeEncodeString(text: string): string {
  let encoded = ''
  for (let index = 0; index < text.length; index++) {
    encoded += GENERATED_NAME_ALPHABET[text.charCodeAt(index) % GENERATED_NAME_ALPHABET.length]
  }
  return encoded
}

/** The template without the pod-template-hash label: the hash must not depend on itself. */
export function templateWithoutHash(template: JsonObject): JsonObject {
  const metadata = metadataOf(template)
  const labels = labelsOf(template)
  if (!(POD_TEMPLATE_HASH_LABEL in labels)) return template
  const { [POD_TEMPLATE_HASH_LABEL]: _hash, ...rest } = labels
  return { ...template, metadata: { ...metadata, labels: rest } }
}

/**
 * The pod-template-hash of `template` (a PodTemplateSpec) for a Deployment that has seen
 * `collisionCount` hash collisions (status.collisionCount; undefined when none).
 */
export function computePodTemplateHash(template: JsonObject, collisionCount: number | undefined): string {
  let hash = fnv32a(UTF8.encode(canonicalJson(templateWithoutHash(template))))
  if (collisionCount !== undefined) {
    const bytes = new Uint8Array(4)
    new DataView(bytes.buffer).setUint32(0, collisionCount >>> 0, true)
    hash = fnv32a(bytes, hash)
  }
  return safeEncodeString(String(hash))
}
