/**
 * Seeded valid objects (ConfigMaps, Namespaces, Deployments) and merge patches that keep them
 * valid, for the API's round-trip properties: what a client sends is what it reads back (plus the
 * fields the server owns), and a merge patch through the API equals the same patch applied
 * locally.
 */
import { isJsonObject, type JsonObject, type JsonValue } from '../../../node/src/api/machinery/canonical.ts'
import type { Random } from '../../../lib/random.ts'
import { pick, randomConfigMapKey, randomDnsLabel, randomLabelKey, randomLabelValue, randomText } from './random-values.ts'

/** The kinds the properties cover, with where their objects live. */
export const PROPERTY_KINDS = {
  ConfigMap: { collection: (namespace: string) => `/api/v1/namespaces/${namespace}/configmaps`, namespaced: true },
  Namespace: { collection: () => '/api/v1/namespaces', namespaced: false },
  Deployment: { collection: (namespace: string) => `/apis/apps/v1/namespaces/${namespace}/deployments`, namespaced: true },
} as const

export type PropertyKind = keyof typeof PROPERTY_KINDS

/** Metadata the server owns and clients never send: compared separately, not as content. */
export const SERVER_OWNED_METADATA = ['uid', 'creationTimestamp', 'resourceVersion', 'generation', 'managedFields', 'selfLink'] as const

function randomMap(random: Random, sizeMax: number, key: (random: Random) => string, value: (random: Random) => string): JsonObject {
  const map: JsonObject = {}
  const size = random.int(0, sizeMax + 1)
  for (let i = 0; i < size; i++) map[key(random)] = value(random)
  return map
}

function randomMetadata(random: Random, name: string): JsonObject {
  const metadata: JsonObject = { name }
  if (random.chance(0.7)) metadata['labels'] = randomMap(random, 4, randomLabelKey, (r) => randomLabelValue(r))
  if (random.chance(0.5)) metadata['annotations'] = randomMap(random, 3, randomLabelKey, (r) => randomText(r, 60))
  // kubectl sends an explicit null here; the server must drop it, not store it.
  if (random.chance(0.3)) metadata['creationTimestamp'] = null
  return metadata
}

export function randomConfigMap(random: Random, name: string): JsonObject {
  const object: JsonObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: randomMetadata(random, name) }
  if (random.chance(0.85)) object['data'] = randomMap(random, 6, randomConfigMapKey, (r) => randomText(r, 80))
  if (random.chance(0.2)) object['binaryData'] = randomMap(random, 2, randomConfigMapKey, (r) => Buffer.from(randomText(r, 30)).toString('base64'))
  if (random.chance(0.1)) object['immutable'] = false
  return object
}

export function randomNamespace(random: Random, name: string): JsonObject {
  // The finalizer a real server adds is sent up front, so the property holds whether or not the
  // server defaults it.
  return { apiVersion: 'v1', kind: 'Namespace', metadata: randomMetadata(random, name), spec: { finalizers: ['kubernetes'] } }
}

function randomContainer(random: Random, name: string): JsonObject {
  const container: JsonObject = { name, image: `${pick(random, ['busybox', 'nginx', 'registry.example.com/team/app'])}${pick(random, ['', ':1.36', ':latest', '@sha256:' + 'a'.repeat(64)])}` }
  if (random.chance(0.5)) {
    const ports = new Set<number>()
    const count = random.int(1, 4)
    for (let i = 0; i < count; i++) ports.add(random.int(1, 65536))
    container['ports'] = [...ports].map((containerPort): JsonObject => (random.chance(0.5) ? { containerPort, protocol: pick(random, ['TCP', 'UDP']) } : { containerPort }))
  }
  if (random.chance(0.4)) container['args'] = Array.from({ length: random.int(1, 4) }, () => randomText(random, 15))
  if (random.chance(0.4)) container['env'] = Array.from({ length: random.int(1, 4) }, (_, i) => ({ name: `VAR_${i}`, value: randomText(random, 20) }))
  return container
}

export function randomDeployment(random: Random, name: string): JsonObject {
  const appLabels: JsonObject = { app: name, ...randomMap(random, 2, randomLabelKey, (r) => randomLabelValue(r)) }
  const containerNames = new Set<string>()
  const containerCount = random.int(1, 4)
  for (let i = 0; i < containerCount; i++) containerNames.add(randomDnsLabel(random, 12))
  const podSpec: JsonObject = { containers: [...containerNames].map((containerName) => randomContainer(random, containerName)) }
  if (random.chance(0.3)) podSpec['restartPolicy'] = 'Always'
  if (random.chance(0.3)) podSpec['terminationGracePeriodSeconds'] = random.int(0, 120)
  const spec: JsonObject = {
    selector: { matchLabels: appLabels },
    template: { metadata: { labels: { ...appLabels, ...randomMap(random, 2, randomLabelKey, (r) => randomLabelValue(r)) }, ...(random.chance(0.3) ? { creationTimestamp: null } : {}) }, spec: podSpec },
  }
  if (random.chance(0.7)) spec['replicas'] = random.int(0, 20)
  if (random.chance(0.3)) spec['minReadySeconds'] = random.int(0, 60)
  if (random.chance(0.2)) spec['strategy'] = { type: 'Recreate' }
  if (random.chance(0.2)) spec['paused'] = random.chance(0.5)
  return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: randomMetadata(random, name), spec }
}

/** A random valid object of `kind` named `name`. */
export function randomObject(random: Random, kind: PropertyKind, name: string): JsonObject {
  switch (kind) {
    case 'ConfigMap':
      return randomConfigMap(random, name)
    case 'Namespace':
      return randomNamespace(random, name)
    case 'Deployment':
      return randomDeployment(random, name)
  }
}

/** A merge-patch map over `current`: some keys removed (null), some changed, some added. */
function randomMapPatch(random: Random, current: JsonValue | undefined, key: (random: Random) => string, value: (random: Random) => string): JsonObject {
  const patch: JsonObject = {}
  for (const existing of Object.keys(isJsonObject(current) ? current : {})) {
    if (random.chance(0.3)) patch[existing] = null
    else if (random.chance(0.3)) patch[existing] = value(random)
  }
  const added = random.int(0, 3)
  for (let i = 0; i < added; i++) patch[key(random)] = value(random)
  return patch
}

/**
 * A JSON merge patch that keeps `current` (an object of `kind` as the server returned it) valid:
 * it touches labels, annotations, ConfigMap data and Deployment replicas, minReadySeconds, paused
 * and template annotations, never names, selectors or template labels. With `resourceVersion`
 * it also carries that version, as an optimistic-concurrency client would.
 */
export function randomMergePatch(random: Random, kind: PropertyKind, current: JsonObject, resourceVersion?: string): JsonObject {
  const currentMetadata = isJsonObject(current['metadata']) ? current['metadata'] : {}
  const metadata: JsonObject = {}
  if (random.chance(0.6)) metadata['labels'] = randomMapPatch(random, currentMetadata['labels'], randomLabelKey, (r) => randomLabelValue(r))
  if (random.chance(0.5)) metadata['annotations'] = random.chance(0.1) ? null : randomMapPatch(random, currentMetadata['annotations'], randomLabelKey, (r) => randomText(r, 40))
  if (resourceVersion !== undefined) metadata['resourceVersion'] = resourceVersion
  const patch: JsonObject = Object.keys(metadata).length > 0 ? { metadata } : {}
  if (kind === 'ConfigMap' && random.chance(0.7)) patch['data'] = randomMapPatch(random, current['data'], randomConfigMapKey, (r) => randomText(r, 40))
  if (kind === 'Deployment') {
    const spec: JsonObject = {}
    if (random.chance(0.5)) spec['replicas'] = random.int(0, 20)
    if (random.chance(0.3)) spec['minReadySeconds'] = random.chance(0.2) ? null : random.int(0, 60)
    if (random.chance(0.2)) spec['paused'] = random.chance(0.5)
    if (random.chance(0.3)) {
      const template = isJsonObject(current['spec']) && isJsonObject(current['spec']['template']) ? current['spec']['template'] : {}
      const templateMetadata = isJsonObject(template['metadata']) ? template['metadata'] : {}
      spec['template'] = { metadata: { annotations: randomMapPatch(random, templateMetadata['annotations'], randomLabelKey, (r) => randomText(r, 20)) } }
    }
    if (Object.keys(spec).length > 0) patch['spec'] = spec
  }
  return patch
}

/** `object` without the metadata the server owns and without `status`, for content comparisons. */
export function withoutServerFields(object: JsonObject): JsonObject {
  const { status: _status, ...rest } = object
  const metadata: JsonObject = { ...(isJsonObject(object['metadata']) ? object['metadata'] : {}) }
  for (const field of SERVER_OWNED_METADATA) delete metadata[field]
  return { ...rest, metadata }
}
