/** NodeName: a pod whose `spec.nodeName` is already set fits only that node. */
import { rejection, type FilterPlugin } from '../framework.ts'

/** The reason in FailedScheduling events. */
export const REASON_NODE_NAME = "node(s) didn't match the requested node name"

const REJECTED = rejection('NodeName', 'UnschedulableAndUnresolvable', REASON_NODE_NAME)

export const nodeNamePlugin: FilterPlugin = {
  name: 'NodeName',
  preFilter(pod) {
    if (pod.requestedNodeName === '') return undefined
    const wanted = pod.requestedNodeName
    return (node) => (node.name === wanted ? undefined : REJECTED)
  },
}
