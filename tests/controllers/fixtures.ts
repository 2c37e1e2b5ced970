/**
 * Builders of Deployment, ReplicaSet and Pod objects as the API server stores them (defaulted,
 * with uid, creationTimestamp, generation and resourceVersion), for controller tests.
 */
import type { JsonObject, JsonValue } from '../../node/src/api/machinery/canonical.ts'
import { applyDefaults } from '../../node/src/api/server/kinds.ts'
import { formatTime } from '../../node/src/controllers/object-fields.ts'
import { POD_TEMPLATE_HASH_LABEL } from '../../node/src/controllers/template-hash.ts'

/** A fixed epoch for tests: 2023-11-14T22:13:20Z. */
export const T0_MS = 1_700_000_000_000

export interface DeploymentFixture {
  name?: string
  uid?: string
  replicas?: number
  image?: string
  strategy?: 'RollingUpdate' | 'Recreate'
  maxSurge?: JsonValue
  maxUnavailable?: JsonValue
  minReadySeconds?: number
  revisionHistoryLimit?: number
  progressDeadlineSeconds?: number
  paused?: boolean
  generation?: number
  annotations?: Record<string, string>
  status?: JsonObject
}

/** A pod template for `app` running `image`. */
export function podTemplate(app: string, image: string): JsonObject {
  return { metadata: { labels: { app } }, spec: { containers: [{ name: 'app', image }] } }
}

/** A defaulted Deployment, as stored. */
export function deploymentFixture(options: DeploymentFixture = {}): JsonObject {
  const name = options.name ?? 'web'
  const spec: JsonObject = {
    replicas: options.replicas ?? 3,
    selector: { matchLabels: { app: name } },
    template: podTemplate(name, options.image ?? 'nginx:1.20'),
  }
  if (options.strategy === 'Recreate') spec['strategy'] = { type: 'Recreate' }
  else if (options.maxSurge !== undefined || options.maxUnavailable !== undefined) {
    spec['strategy'] = { type: 'RollingUpdate', rollingUpdate: { maxSurge: options.maxSurge ?? '25%', maxUnavailable: options.maxUnavailable ?? '25%' } }
  }
  if (options.minReadySeconds !== undefined) spec['minReadySeconds'] = options.minReadySeconds
  if (options.revisionHistoryLimit !== undefined) spec['revisionHistoryLimit'] = options.revisionHistoryLimit
  if (options.progressDeadlineSeconds !== undefined) spec['progressDeadlineSeconds'] = options.progressDeadlineSeconds
  if (options.paused !== undefined) spec['paused'] = options.paused
  const metadata: JsonObject = {
    name,
    namespace: 'default',
    uid: options.uid ?? `uid-deploy-${name}`,
    creationTimestamp: formatTime(T0_MS),
    generation: options.generation ?? 1,
    resourceVersion: '10',
  }
  if (options.annotations !== undefined) metadata['annotations'] = options.annotations
  const defaulted = applyDefaults('Deployment', { apiVersion: 'apps/v1', kind: 'Deployment', metadata, spec })
  return options.status === undefined ? defaulted : { ...defaulted, status: options.status }
}

export interface ReplicaSetFixture {
  name: string
  uid: string
  replicas: number
  template: JsonObject
  hash?: string
  owner?: JsonObject
  revision?: number
  createdMs?: number
  minReadySeconds?: number
  annotations?: Record<string, string>
  generation?: number
  status?: JsonObject
}

/** A stored ReplicaSet, optionally owned by a Deployment with the usual hash label. */
export function replicaSetFixture(options: ReplicaSetFixture): JsonObject {
  const hash = options.hash ?? options.name.split('-').pop() ?? 'hash'
  const templateLabels = { ...(((options.template['metadata'] as JsonObject | undefined)?.['labels'] as JsonObject | undefined) ?? {}), [POD_TEMPLATE_HASH_LABEL]: hash }
  const template = { ...options.template, metadata: { ...((options.template['metadata'] as JsonObject | undefined) ?? {}), labels: templateLabels } }
  const annotations: Record<string, string> = { ...(options.annotations ?? {}) }
  if (options.revision !== undefined) annotations['deployment.kubernetes.io/revision'] = String(options.revision)
  const metadata: JsonObject = {
    name: options.name,
    namespace: 'default',
    uid: options.uid,
    creationTimestamp: formatTime(options.createdMs ?? T0_MS),
    generation: options.generation ?? 1,
    resourceVersion: '20',
    labels: templateLabels,
    annotations,
  }
  if (options.owner !== undefined) {
    const ownerMetadata = options.owner['metadata'] as JsonObject
    metadata['ownerReferences'] = [{ apiVersion: 'apps/v1', kind: 'Deployment', name: ownerMetadata['name'] ?? null, uid: ownerMetadata['uid'] ?? null, controller: true, blockOwnerDeletion: true }]
  }
  const rs: JsonObject = {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    metadata,
    spec: { replicas: options.replicas, minReadySeconds: options.minReadySeconds ?? 0, selector: { matchLabels: templateLabels }, template },
  }
  return applyDefaults('ReplicaSet', options.status === undefined ? rs : { ...rs, status: options.status })
}

export interface PodFixture {
  name: string
  owner?: JsonObject
  labels?: Record<string, string>
  /** Scheduled to a node (default true). */
  scheduled?: boolean
  phase?: string
  /** Ready since this time (default: not ready). */
  readySinceMs?: number
  restarts?: number
  createdMs?: number
  deleting?: boolean
  image?: string
}

/** A stored Pod, optionally controlled by `owner` (a ReplicaSet). */
export function podFixture(options: PodFixture): JsonObject {
  const ownerMetadata = options.owner?.['metadata'] as JsonObject | undefined
  const ownerTemplate = (options.owner?.['spec'] as JsonObject | undefined)?.['template'] as JsonObject | undefined
  const labels = options.labels ?? (((ownerTemplate?.['metadata'] as JsonObject | undefined)?.['labels'] as Record<string, string> | undefined) ?? {})
  const metadata: JsonObject = {
    name: options.name,
    namespace: 'default',
    uid: `uid-${options.name}`,
    creationTimestamp: formatTime(options.createdMs ?? T0_MS),
    resourceVersion: '30',
    labels,
  }
  if (ownerMetadata !== undefined) {
    metadata['ownerReferences'] = [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: ownerMetadata['name'] ?? null, uid: ownerMetadata['uid'] ?? null, controller: true, blockOwnerDeletion: true }]
  }
  if (options.deleting === true) metadata['deletionTimestamp'] = formatTime(T0_MS)
  const ready = options.readySinceMs !== undefined
  const status: JsonObject = {
    phase: options.phase ?? (ready ? 'Running' : 'Pending'),
    conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: formatTime(options.readySinceMs ?? T0_MS) }],
    containerStatuses: [{ name: 'app', ready, restartCount: options.restarts ?? 0 }],
  }
  const spec: JsonObject = { containers: [{ name: 'app', image: options.image ?? 'nginx:1.20' }] }
  if (options.scheduled !== false) spec['nodeName'] = 'node-1'
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec, status }
}
