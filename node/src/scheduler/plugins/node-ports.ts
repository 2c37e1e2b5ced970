/**
 * NodePorts: a pod that binds host ports fits only nodes where no placed pod binds the same
 * protocol and port on an overlapping address (0.0.0.0 overlaps every address).
 */
import { rejection, type FilterPlugin } from '../framework.ts'

/** The reason in FailedScheduling events. */
export const REASON_NODE_PORTS = "node(s) didn't have free ports for the requested pod ports"

const REJECTED = rejection('NodePorts', 'Unschedulable', REASON_NODE_PORTS)

export const nodePortsPlugin: FilterPlugin = {
  name: 'NodePorts',
  preFilter(pod) {
    if (pod.hostPorts.length === 0) return undefined
    const ports = pod.hostPorts
    return (node) => (node.hostPortsConflict(ports) ? REJECTED : undefined)
  },
}
