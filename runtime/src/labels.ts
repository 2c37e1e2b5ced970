/**
 * The labels every runtime object carries (RUNTIME_LABELS), built the same way by both runtimes,
 * and the pod they name.
 */
import { RUNTIME_LABELS, type ContainerConfig, type PodRef, type SandboxConfig } from './runtime.ts'

/** Every label of a sandbox: the caller's, then ours (ours win). */
export function sandboxLabels(nodeName: string, config: SandboxConfig): Record<string, string> {
  return {
    ...config.labels,
    [RUNTIME_LABELS.node]: nodeName,
    [RUNTIME_LABELS.kind]: 'sandbox',
    [RUNTIME_LABELS.podUid]: config.pod.uid,
    [RUNTIME_LABELS.podName]: config.pod.name,
    [RUNTIME_LABELS.podNamespace]: config.pod.namespace,
  }
}

/** Every label of a container: the caller's, then ours (ours win). */
export function containerLabels(nodeName: string, pod: PodRef, sandboxId: string, config: ContainerConfig): Record<string, string> {
  const labels: Record<string, string> = {
    ...config.labels,
    [RUNTIME_LABELS.node]: nodeName,
    [RUNTIME_LABELS.kind]: 'container',
    [RUNTIME_LABELS.podUid]: pod.uid,
    [RUNTIME_LABELS.podName]: pod.name,
    [RUNTIME_LABELS.podNamespace]: pod.namespace,
    [RUNTIME_LABELS.containerName]: config.name,
    [RUNTIME_LABELS.attempt]: String(config.attempt),
    [RUNTIME_LABELS.sandboxId]: sandboxId,
  }
  if (config.specHash !== undefined) labels[RUNTIME_LABELS.specHash] = config.specHash
  return labels
}

/** The pod a runtime object's labels name. */
export function podFromLabels(labels: Readonly<Record<string, string>>): PodRef {
  return {
    uid: labels[RUNTIME_LABELS.podUid] ?? '',
    name: labels[RUNTIME_LABELS.podName] ?? '',
    namespace: labels[RUNTIME_LABELS.podNamespace] ?? '',
  }
}
