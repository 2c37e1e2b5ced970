/**
 * NodeResourcesBalancedAllocation: prefers nodes whose cpu and memory would be used in similar
 * proportions once the pod is added, so that no resource is exhausted while the other lies idle.
 * Score = (1 − standard deviation of the cpu and memory fractions) × 100, with plain (not
 * non-zero) requests; a node that lacks one of the two resources scores 100. BestEffort pods are
 * skipped: they change no fraction.
 */
import { MAX_NODE_SCORE, type ScorePlugin } from '../framework.ts'

export const nodeResourcesBalancedAllocationPlugin: ScorePlugin = {
  name: 'NodeResourcesBalancedAllocation',
  preScore(pod) {
    if (pod.requests.milliCpu === 0 && pod.requests.memoryBytes === 0) return undefined
    const { milliCpu, memoryBytes } = pod.requests
    return {
      score(node) {
        const cpuCapacity = node.allocatable.milliCpu
        const memoryCapacity = node.allocatable.memoryBytes
        // With two resources the standard deviation is half their difference; with one it is 0.
        if (cpuCapacity === 0 || memoryCapacity === 0) return MAX_NODE_SCORE
        const cpuFraction = Math.min(1, (node.requested.milliCpu + milliCpu) / cpuCapacity)
        const memoryFraction = Math.min(1, (node.requested.memoryBytes + memoryBytes) / memoryCapacity)
        return Math.trunc((1 - Math.abs(cpuFraction - memoryFraction) / 2) * MAX_NODE_SCORE)
      },
    }
  },
}
