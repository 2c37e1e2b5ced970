// Goal: a pod's requests and a node's allocatable are read the way kube-scheduler reads them.
// Method: pod specs with containers, limits-only containers, init containers, sidecars and
// overhead through podRequests; nodes with and without allocatable through nodeAllocatable.
import t from 'tap'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import {
  DEFAULT_NON_ZERO_MEMORY_BYTES,
  DEFAULT_NON_ZERO_MILLI_CPU,
  isZeroRequest,
  nodeAllocatable,
  podRequests,
} from '../../node/src/scheduler/resources.ts'

const MI = 1024 * 1024

function container(requests?: Record<string, string>, limits?: Record<string, string>, restartPolicy?: string): JsonObject {
  const resources: JsonObject = {}
  if (requests !== undefined) resources.requests = requests
  if (limits !== undefined) resources.limits = limits
  const result: JsonObject = { name: 'c', image: 'x', resources }
  if (restartPolicy !== undefined) result.restartPolicy = restartPolicy
  return result
}

t.test('podRequests sums containers and falls back to limits for missing requests', async (t) => {
  const result = podRequests({
    containers: [container({ cpu: '250m', memory: '64Mi' }), container(undefined, { cpu: '1', memory: '1Gi' }), container({ cpu: '100m' }, { memory: '32Mi' })],
  })
  t.equal(result.requests.milliCpu, 250 + 1000 + 100)
  t.equal(result.requests.memoryBytes, (64 + 1024 + 32) * MI)
})

t.test('podRequests takes the largest init container when it exceeds the sum of the containers', async (t) => {
  const result = podRequests({
    containers: [container({ cpu: '100m', memory: '10Mi' }), container({ cpu: '100m', memory: '10Mi' })],
    initContainers: [container({ cpu: '500m', memory: '5Mi' }), container({ cpu: '50m', memory: '100Mi' })],
  })
  t.equal(result.requests.milliCpu, 500, 'cpu: the init container (500m) beats the sum (200m)')
  t.equal(result.requests.memoryBytes, 100 * MI, 'memory: the other init container (100Mi) beats the sum (20Mi)')
})

t.test('podRequests adds sidecar init containers to the sum and to every later init container', async (t) => {
  const result = podRequests({
    containers: [container({ cpu: '100m' })],
    initContainers: [container({ cpu: '200m' }, undefined, 'Always'), container({ cpu: '250m' })],
  })
  // Sum: 100m + sidecar 200m = 300m; peak of init phase: 250m next to the 200m sidecar = 450m.
  t.equal(result.requests.milliCpu, 450)
})

t.test('podRequests adds the pod overhead and keeps extended resources', async (t) => {
  const result = podRequests({
    containers: [container({ cpu: '1', 'nvidia.com/gpu': '2', 'ephemeral-storage': '1Gi' })],
    overhead: { cpu: '50m', memory: '20Mi' },
  })
  t.equal(result.requests.milliCpu, 1050)
  t.equal(result.requests.memoryBytes, 20 * MI)
  t.equal(result.requests.ephemeralStorageBytes, 1024 * MI)
  t.same([...(result.requests.scalar ?? [])], [['nvidia.com/gpu', 2]])
})

t.test('BestEffort pods request zero but score with the non-zero defaults', async (t) => {
  const result = podRequests({ containers: [container(), container({ cpu: '300m' })] })
  t.equal(result.requests.milliCpu, 300)
  t.equal(result.requests.memoryBytes, 0)
  t.notOk(isZeroRequest(result.requests))
  t.equal(result.nonZeroMilliCpu, DEFAULT_NON_ZERO_MILLI_CPU + 300, 'the container without cpu counts 100m')
  t.equal(result.nonZeroMemoryBytes, 2 * DEFAULT_NON_ZERO_MEMORY_BYTES, 'both containers without memory count 200Mi')
  t.ok(isZeroRequest(podRequests({ containers: [container()] }).requests))
})

t.test('an explicit zero request stays zero for scoring too', async (t) => {
  const result = podRequests({ containers: [container({ cpu: '0', memory: '0' })] })
  t.equal(result.nonZeroMilliCpu, 0)
  t.equal(result.nonZeroMemoryBytes, 0)
})

t.test('nodeAllocatable prefers allocatable, falls back to capacity, and declares no pods by default', async (t) => {
  const node = (status: JsonObject): JsonObject => ({ metadata: { name: 'n' }, status })
  const both = nodeAllocatable(node({ capacity: { cpu: '4', memory: '8Gi', pods: '110' }, allocatable: { cpu: '3500m', memory: '7Gi' } }))
  t.equal(both.resources.milliCpu, 3500)
  t.equal(both.resources.memoryBytes, 7 * 1024 * MI)
  t.equal(both.pods, 110, 'pods falls back to capacity')
  const none = nodeAllocatable(node({}))
  t.equal(none.pods, 0)
  t.equal(none.resources.milliCpu, 0)
})

t.test('unparseable quantities are skipped rather than thrown', async (t) => {
  const result = podRequests({ containers: [container({ cpu: 'lots', memory: '1Mi' })] })
  t.equal(result.requests.milliCpu, 0)
  t.equal(result.requests.memoryBytes, MI)
})
