/**
 * VolumeBinding (filter): a pod goes only where the volumes of its PersistentVolumeClaims can be.
 *
 * For each claim the pod mounts (persistentVolumeClaim volumes and generic ephemeral claims):
 * - missing or being deleted: no node fits (the claim may appear later; the scheduler loop
 *   retries pods when claims change);
 * - bound (`spec.volumeName`): the volume's `nodeAffinity.required` must match the node, so a
 *   local-path volume pins every later pod of the claim to the node holding its directory;
 * - unbound, class WaitForFirstConsumer (`local-path`): the node that runs the first pod will
 *   provision the volume, so any node fits — except that once a scheduler chose a node for the
 *   claim (kube's `volume.kubernetes.io/selected-node`) or a placed or assumed pod already
 *   mounts it, only those nodes do: two pods of one unbound claim must not be placed on two
 *   nodes that would each try to provision it;
 * - unbound otherwise (Immediate, no class, unknown class): no node fits until something binds it.
 *
 * All of it is worked out once per pod in preFilter; the per-node check is a few lookups.
 * Messages are kube-scheduler's. Not implemented: matching unbound claims against existing
 * unbound PersistentVolumes (static provisioning) and a class's allowedTopologies.
 */
import { rejection, type FilterPlugin, type NodeFilter, type Rejection } from '../framework.ts'
import { termMatchesNode, type NodeSelectorTerm } from '../node-selector.ts'
import { podClaimKeys } from '../volumes.ts'

/** Reasons in FailedScheduling events. */
export const REASON_UNBOUND_IMMEDIATE = 'pod has unbound immediate PersistentVolumeClaims'
export const REASON_VOLUME_NODE_CONFLICT = 'node(s) had volume node affinity conflict'
export const REASON_BIND_CONFLICT = "node(s) didn't find available persistent volumes to bind"
export const REASON_VOLUME_MISSING = 'pvc(s) bound to non-existent pv(s)'

export function reasonClaimNotFound(name: string): string {
  return `persistentvolumeclaim "${name}" not found`
}

export function reasonClaimTerminating(name: string): string {
  return `persistentvolumeclaim "${name}" is being deleted`
}

const NODE_CONFLICT = rejection('VolumeBinding', 'UnschedulableAndUnresolvable', REASON_VOLUME_NODE_CONFLICT)
const BIND_CONFLICT = rejection('VolumeBinding', 'UnschedulableAndUnresolvable', REASON_BIND_CONFLICT)

function rejectEveryNode(reason: string): NodeFilter {
  const rejected: Rejection = rejection('VolumeBinding', 'UnschedulableAndUnresolvable', reason)
  return () => rejected
}

export const volumeBindingPlugin: FilterPlugin = {
  name: 'VolumeBinding',
  preFilter(pod, snapshot) {
    const keys = podClaimKeys(pod.object)
    if (keys.length === 0) return undefined
    /** Per bound volume with node affinity, its terms (the node must match one term of each). */
    const volumeTerms: Array<readonly NodeSelectorTerm[]> = []
    /** Per unbound WaitForFirstConsumer claim already tied to nodes, those nodes. */
    const claimNodes: Array<ReadonlySet<string>> = []
    for (const key of keys) {
      const claim = snapshot.claim(key)
      if (claim === undefined) return rejectEveryNode(reasonClaimNotFound(key.slice(key.indexOf('/') + 1)))
      if (claim.terminating) return rejectEveryNode(reasonClaimTerminating(claim.name))
      if (claim.volumeName !== '') {
        const volume = snapshot.persistentVolume(claim.volumeName)
        if (volume === undefined) return rejectEveryNode(REASON_VOLUME_MISSING)
        if (volume.nodeTerms !== undefined) volumeTerms.push(volume.nodeTerms)
        continue
      }
      const bindingMode = claim.storageClassName === '' ? 'Immediate' : (snapshot.storageClass(claim.storageClassName)?.volumeBindingMode ?? 'Immediate')
      if (bindingMode === 'Immediate') return rejectEveryNode(REASON_UNBOUND_IMMEDIATE)
      if (claim.selectedNode !== '') claimNodes.push(new Set([claim.selectedNode]))
      else {
        const users = snapshot.claimUserNodes(key)
        if (users !== undefined) claimNodes.push(new Set(users.keys()))
      }
    }
    if (volumeTerms.length === 0 && claimNodes.length === 0) return undefined
    return (node) => {
      for (const terms of volumeTerms) {
        if (!terms.some((term) => termMatchesNode(term, node.name, node.labels))) return NODE_CONFLICT
      }
      for (const nodes of claimNodes) if (!nodes.has(node.name)) return BIND_CONFLICT
      return undefined
    }
  },
}
