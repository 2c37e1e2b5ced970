// Goal: the small filters: NodeUnschedulable (cordon), NodeName and NodePorts. Method: one crafted
// snapshot per plugin, checking the accepted nodes and the reason text.
import t from 'tap'
import { nodeNamePlugin, REASON_NODE_NAME } from '../../node/src/scheduler/plugins/node-name.ts'
import { nodePortsPlugin, REASON_NODE_PORTS } from '../../node/src/scheduler/plugins/node-ports.ts'
import { nodeUnschedulablePlugin, REASON_NODE_UNSCHEDULABLE } from '../../node/src/scheduler/plugins/node-unschedulable.ts'
import { ClusterSnapshot } from '../../node/src/scheduler/snapshot.ts'
import { acceptedNodes, filterResults, makeNode, makePod } from './fixtures.ts'

t.test('NodeUnschedulable rejects a cordoned node unless the pod tolerates the unschedulable taint', async (t) => {
  const snapshot = ClusterSnapshot.from({ nodes: [makeNode('open'), makeNode('cordoned', { unschedulable: true })] })
  const results = filterResults(nodeUnschedulablePlugin, makePod('p'), snapshot)
  t.same(acceptedNodes(results), ['open'])
  t.same(results.get('cordoned'), [REASON_NODE_UNSCHEDULABLE])
  const tolerant = makePod('ds', { tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }] })
  t.same(acceptedNodes(filterResults(nodeUnschedulablePlugin, tolerant, snapshot)), ['cordoned', 'open'])
})

t.test('NodeUnschedulable: uncordoning makes the node schedulable again', async (t) => {
  const snapshot = ClusterSnapshot.from({ nodes: [makeNode('n', { unschedulable: true })] })
  t.same(acceptedNodes(filterResults(nodeUnschedulablePlugin, makePod('p'), snapshot)), [])
  snapshot.upsertNode(makeNode('n', { unschedulable: false }))
  t.same(acceptedNodes(filterResults(nodeUnschedulablePlugin, makePod('p'), snapshot)), ['n'])
})

t.test('NodeName admits only the node a pod names', async (t) => {
  const snapshot = ClusterSnapshot.from({ nodes: [makeNode('a'), makeNode('b')] })
  const results = filterResults(nodeNamePlugin, makePod('p', { nodeName: 'b' }), snapshot)
  t.same(acceptedNodes(results), ['b'])
  t.same(results.get('a'), [REASON_NODE_NAME])
  t.same([...filterResults(nodeNamePlugin, makePod('q'), snapshot).values()], ['skip', 'skip'])
})

t.test('NodePorts rejects nodes where the host port is taken, per protocol and address', async (t) => {
  const snapshot = ClusterSnapshot.from({ nodes: [makeNode('a'), makeNode('b'), makeNode('c')] })
  snapshot.assumePod(makePod('web', { hostPorts: [8080] }), 'a')
  const specific = makePod('dns', {})
  ;(specific.spec as { containers: Array<Record<string, unknown>> }).containers[0]!.ports = [{ containerPort: 53, hostPort: 53, protocol: 'UDP', hostIP: '10.0.0.1' }]
  snapshot.assumePod(specific, 'b')
  const results = filterResults(nodePortsPlugin, makePod('p', { hostPorts: [8080] }), snapshot)
  t.same(acceptedNodes(results), ['b', 'c'])
  t.same(results.get('a'), [REASON_NODE_PORTS])
  const udp = (ip: string) => {
    const pod = makePod(`udp-${ip}`)
    ;(pod.spec as { containers: Array<Record<string, unknown>> }).containers[0]!.ports = [{ containerPort: 53, hostPort: 53, protocol: 'UDP', hostIP: ip }]
    return pod
  }
  t.same(acceptedNodes(filterResults(nodePortsPlugin, udp('10.0.0.2'), snapshot)), ['a', 'b', 'c'], 'another address on the same port is free')
  t.same(acceptedNodes(filterResults(nodePortsPlugin, udp('0.0.0.0'), snapshot)), ['a', 'c'], '0.0.0.0 overlaps every address')
  t.same(acceptedNodes(filterResults(nodePortsPlugin, makePod('tcp53', { hostPorts: [53] }), snapshot)), ['a', 'b', 'c'], 'TCP and UDP do not clash')
  snapshot.removePod('default/web')
  t.same(acceptedNodes(filterResults(nodePortsPlugin, makePod('p', { hostPorts: [8080] }), snapshot)), ['a', 'b', 'c'], 'removing the pod frees the port')
})
