/**
 * Per-kind defaulting and validation on write: the defaults Kubernetes fills in (and kubectl
 * prints) and the rules whose violations become a 422 Invalid with field causes, for every
 * built-in kind (research/k8s-api.md §0). Without the defaults `describe` shows `Port: 80/`, and
 * `rollout undo` sees a changed template where nothing changed.
 *
 * The rules live in kinds/, one module per kind or family, each mirroring the Kubernetes
 * function it is named after in its comments (`SetDefaults_Deployment`, `ValidatePodSpec`, …), so
 * that field paths, reasons and messages match what kubectl users and scripts see from a real
 * API server. Deliberate deviations are documented where they are made.
 *
 * Both entry points are pure: `applyDefaults` returns a new object (it fills defaults into a deep
 * copy, never into the caller's object), `validateKind` only reads.
 */
import { cloneJson, type JsonObject } from '../machinery/canonical.ts'
import type { FieldError } from '../machinery/field-errors.ts'
import { configMapErrors, defaultSecret, secretErrors } from './kinds/config-data.ts'
import { controllerRevisionErrors } from './kinds/controller-revision.ts'
import { cronJobErrors, defaultCronJob } from './kinds/cron-job.ts'
import { daemonSetErrors, defaultDaemonSet } from './kinds/daemon-set.ts'
import { defaultDeployment, defaultReplicaSet, deploymentErrors, replicaSetErrors } from './kinds/deployment.ts'
import { defaultEndpointSlice, endpointSliceErrors } from './kinds/endpoint-slice.ts'
import { defaultEndpoints, endpointsErrors } from './kinds/endpoints.ts'
import { eventErrors } from './kinds/event.ts'
import { defaultHorizontalPodAutoscaler, horizontalPodAutoscalerErrors } from './kinds/horizontal-pod-autoscaler.ts'
import { defaultJob, jobErrors } from './kinds/job.ts'
import { leaseErrors } from './kinds/lease.ts'
import { objectMetaErrors } from './kinds/metadata.ts'
import { defaultNamespace, namespaceErrors } from './kinds/namespace.ts'
import { defaultNetworkPolicy, networkPolicyErrors } from './kinds/network-policy.ts'
import { defaultNode, nodeErrors } from './kinds/node.ts'
import { claimErrors, defaultClaim, defaultPersistentVolume, persistentVolumeErrors } from './kinds/persistent-volume.ts'
import { defaultPodSpecInPlace } from './kinds/pod-spec.ts'
import { defaultPod, podErrors } from './kinds/pod.ts'
import { defaultResourceQuota, resourceQuotaErrors } from './kinds/resource-quota.ts'
import { defaultService, serviceErrors } from './kinds/service.ts'
import { defaultStatefulSet, statefulSetErrors } from './kinds/stateful-set.ts'
import { defaultStorageClass, storageClassErrors } from './kinds/storage-class.ts'

/** The defaulting and validation of one kind. Both functions receive `old` only on update. */
interface KindRules {
  /** Fills defaults into `object`, which is a private deep copy that it may mutate. */
  readonly fillDefaults?: (object: JsonObject, old: JsonObject | undefined) => void
  /** The kind's own problems (metadata rules common to all kinds are checked separately). */
  readonly validate?: (object: JsonObject, old: JsonObject | undefined) => FieldError[]
}

/**
 * The rules of every kind in BUILTIN_REGISTRY. ServiceAccounts have only the common metadata
 * rules, as in Kubernetes. Kinds not listed (custom resources) get the metadata rules only.
 */
const RULES: Readonly<Record<string, KindRules>> = {
  ConfigMap: { validate: configMapErrors },
  ControllerRevision: { validate: controllerRevisionErrors },
  CronJob: { fillDefaults: defaultCronJob, validate: cronJobErrors },
  DaemonSet: { fillDefaults: defaultDaemonSet, validate: daemonSetErrors },
  Deployment: { fillDefaults: defaultDeployment, validate: deploymentErrors },
  Endpoints: { fillDefaults: defaultEndpoints, validate: endpointsErrors },
  EndpointSlice: { fillDefaults: defaultEndpointSlice, validate: endpointSliceErrors },
  Event: { validate: eventErrors },
  HorizontalPodAutoscaler: { fillDefaults: defaultHorizontalPodAutoscaler, validate: horizontalPodAutoscalerErrors },
  Job: { fillDefaults: defaultJob, validate: jobErrors },
  Lease: { validate: leaseErrors },
  Namespace: { fillDefaults: defaultNamespace, validate: namespaceErrors },
  NetworkPolicy: { fillDefaults: defaultNetworkPolicy, validate: networkPolicyErrors },
  Node: { fillDefaults: defaultNode, validate: nodeErrors },
  PersistentVolume: { fillDefaults: defaultPersistentVolume, validate: persistentVolumeErrors },
  PersistentVolumeClaim: { fillDefaults: defaultClaim, validate: claimErrors },
  Pod: { fillDefaults: defaultPod, validate: podErrors },
  ReplicaSet: { fillDefaults: defaultReplicaSet, validate: replicaSetErrors },
  ResourceQuota: { fillDefaults: defaultResourceQuota, validate: resourceQuotaErrors },
  Secret: { fillDefaults: defaultSecret, validate: secretErrors },
  Service: { fillDefaults: defaultService, validate: serviceErrors },
  ServiceAccount: {},
  StatefulSet: { fillDefaults: defaultStatefulSet, validate: statefulSetErrors },
  StorageClass: { fillDefaults: defaultStorageClass, validate: storageClassErrors },
}

/** The kinds with rules of their own, for tests that must cover every one. */
export const KINDS_WITH_RULES: readonly string[] = Object.keys(RULES)

/**
 * The object with Kubernetes' defaults for its kind filled in; unknown kinds are returned as is.
 * `old` is the stored object on update: a few defaults depend on it (a Service keeps its
 * allocated cluster IP and node ports when the update leaves them out; a Job's selector is
 * generated only on create).
 */
export function applyDefaults(kind: string, object: JsonObject, old?: JsonObject): JsonObject {
  const fillDefaults = RULES[kind]?.fillDefaults
  if (fillDefaults === undefined) return object
  const copy = cloneJson(object)
  fillDefaults(copy, old)
  return copy
}

/**
 * The field errors of a defaulted object of `kind`; empty when it is valid. With `old` (the
 * stored object, on update) the update-only rules apply too: immutable selectors, cluster IPs and
 * so on. `old` is defaulted before comparing, so objects stored before a default was introduced
 * do not look changed.
 */
export function validateKind(kind: string, object: JsonObject, old?: JsonObject): FieldError[] {
  // Defaulted as an update of itself, so create-only defaults (a Job's generated selector) stay out.
  const previous = old === undefined ? undefined : applyDefaults(kind, old, old)
  return [...objectMetaErrors(kind, object), ...(RULES[kind]?.validate?.(object, previous) ?? [])]
}

/** A PodSpec with its defaults filled in (also inside workload templates); a new object. */
export function defaultPodSpec(spec: JsonObject): JsonObject {
  const copy = cloneJson(spec)
  defaultPodSpecInPlace(copy)
  return copy
}
