/**
 * NodeUnschedulable: cordoned nodes (`spec.unschedulable: true`) take no new pods, except pods
 * that tolerate the `node.kubernetes.io/unschedulable:NoSchedule` taint (DaemonSet pods do).
 */
import { rejection, type FilterPlugin } from '../framework.ts'
import { TAINT_NODE_UNSCHEDULABLE, taintTolerated } from '../taints.ts'

/** The reason in FailedScheduling events. */
export const REASON_NODE_UNSCHEDULABLE = 'node(s) were unschedulable'

const REJECTED = rejection('NodeUnschedulable', 'UnschedulableAndUnresolvable', REASON_NODE_UNSCHEDULABLE)

export const nodeUnschedulablePlugin: FilterPlugin = {
  name: 'NodeUnschedulable',
  preFilter(pod, snapshot) {
    if (snapshot.unschedulableNodeCount === 0) return undefined
    if (taintTolerated(TAINT_NODE_UNSCHEDULABLE, pod.tolerations)) return undefined
    return (node) => (node.unschedulable ? REJECTED : undefined)
  },
}
