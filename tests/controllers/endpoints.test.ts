// Goal: the Endpoints reconcile lists a selector Service's pods as Kubernetes does — ready pods
// in addresses, running-but-unready ones in notReadyAddresses, ports resolved per pod (named
// target ports can split pods into subsets), everything sorted — writes nothing when the stored
// Endpoints already say so, deletes its own Endpoints when the Service goes or loses its
// selector, and leaves selector-less Services' Endpoints alone.
// Method: crafted Services and pods; assertions on the returned plans.
import t from 'tap'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { ENDPOINTS, MANAGED_BY_ANNOTATION, endpointSubsets, reconcileEndpoints, resolveTargetPort } from '../../node/src/controllers/endpoints.ts'
import type { CreateAction, DeleteAction, UpdateAction } from '../../node/src/controllers/plan.ts'

function service(options: { name?: string; selector?: Record<string, string> | null; ports?: JsonObject[]; labels?: Record<string, string>; clusterIP?: string; publishNotReady?: boolean } = {}): JsonObject {
  const spec: JsonObject = { ports: options.ports ?? [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }], clusterIP: options.clusterIP ?? '10.96.0.10' }
  if (options.selector !== null) spec['selector'] = options.selector ?? { app: 'web' }
  if (options.publishNotReady === true) spec['publishNotReadyAddresses'] = true
  return { apiVersion: 'v1', kind: 'Service', metadata: { name: options.name ?? 'web', namespace: 'default', uid: 'svc-uid', labels: options.labels ?? { team: 'a' } }, spec }
}

function pod(name: string, ip: string, options: { ready?: boolean; phase?: string; labels?: Record<string, string>; ports?: JsonObject[]; namespace?: string; deleting?: boolean; node?: string } = {}): JsonObject {
  const ready = options.ready ?? true
  const metadata: JsonObject = { name, namespace: options.namespace ?? 'default', uid: `uid-${name}`, labels: options.labels ?? { app: 'web' }, resourceVersion: '7' }
  if (options.deleting === true) metadata['deletionTimestamp'] = '2024-01-01T00:00:00Z'
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata,
    spec: { nodeName: options.node ?? 'node-a', containers: [{ name: 'app', image: 'web', ports: options.ports ?? [{ name: 'web', containerPort: 8080, protocol: 'TCP' }] }] },
    status: { phase: options.phase ?? 'Running', podIP: ip, conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  }
}

const ref = (name: string): JsonObject => ({ kind: 'Pod', namespace: 'default', name, uid: `uid-${name}` })

t.test('ready pods are addresses, unready running pods notReadyAddresses, sorted by IP', async (t) => {
  const pods = [pod('c', '10.0.0.3'), pod('a', '10.0.0.1'), pod('b', '10.0.0.2', { ready: false }), pod('x', '10.0.0.9', { labels: { app: 'other' } }), pod('ns', '10.0.0.8', { namespace: 'other' })]
  const subsets = endpointSubsets(service(), pods)
  t.same(subsets, [
    {
      addresses: [
        { ip: '10.0.0.1', nodeName: 'node-a', targetRef: ref('a') },
        { ip: '10.0.0.3', nodeName: 'node-a', targetRef: ref('c') },
      ],
      notReadyAddresses: [{ ip: '10.0.0.2', nodeName: 'node-a', targetRef: ref('b') }],
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    },
  ])
  t.same(endpointSubsets(service(), [...pods].reverse()), subsets, 'the order of the pods does not matter')
})

t.test('pods without an IP, being deleted, or finished for good are left out', async (t) => {
  const finished = pod('done', '10.0.0.4', { ready: false, phase: 'Succeeded' })
  ;(finished['spec'] as JsonObject)['restartPolicy'] = 'Never'
  const subsets = endpointSubsets(service(), [pod('noip', ''), pod('gone', '10.0.0.5', { deleting: true }), finished])
  t.same(subsets, [])
  t.same(endpointSubsets(service({ publishNotReady: true }), [pod('u', '10.0.0.6', { ready: false })])[0]?.['addresses'], [{ ip: '10.0.0.6', nodeName: 'node-a', targetRef: ref('u') }], 'publishNotReadyAddresses lists unready pods as ready')
})

t.test('named target ports resolve per pod; different numbers make different subsets', async (t) => {
  const svc = service({ ports: [{ name: 'http', port: 80, targetPort: 'web', protocol: 'TCP' }] })
  const pods = [pod('a', '10.0.0.1'), pod('b', '10.0.0.2', { ports: [{ name: 'web', containerPort: 9090, protocol: 'TCP' }] }), pod('c', '10.0.0.3', { ports: [] })]
  t.equal(resolveTargetPort(pods[1] as JsonObject, { targetPort: 'web', protocol: 'TCP' }), 9090)
  t.equal(resolveTargetPort(pods[1] as JsonObject, { targetPort: 'web', protocol: 'UDP' }), undefined, 'the protocol must match')
  t.equal(resolveTargetPort(pods[2] as JsonObject, { targetPort: 'web' }), undefined)
  const subsets = endpointSubsets(svc, pods)
  t.same(subsets, [
    { addresses: [{ ip: '10.0.0.1', nodeName: 'node-a', targetRef: ref('a') }], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] },
    { addresses: [{ ip: '10.0.0.2', nodeName: 'node-a', targetRef: ref('b') }], ports: [{ name: 'http', port: 9090, protocol: 'TCP' }] },
  ])
})

t.test('reconcile creates the Endpoints with the service labels, then is quiet', async (t) => {
  const svc = service({ clusterIP: 'None' })
  const pods = [pod('a', '10.0.0.1')]
  const plan = reconcileEndpoints(svc, undefined, pods)
  t.equal(plan.actions.length, 1)
  const create = plan.actions[0] as CreateAction
  t.equal(create.type, 'create')
  t.equal(create.resource, ENDPOINTS)
  t.same((create.object['metadata'] as JsonObject)['labels'], { team: 'a', 'service.kubernetes.io/headless': '' })
  t.equal(((create.object['metadata'] as JsonObject)['annotations'] as JsonObject)[MANAGED_BY_ANNOTATION], 'endpoint-controller')
  const stored = { ...create.object, metadata: { ...(create.object['metadata'] as JsonObject), uid: 'ep-uid', resourceVersion: '5' } }
  t.same(reconcileEndpoints(svc, stored, pods).actions, [], 'nothing to do when the stored Endpoints match')
  const update = reconcileEndpoints(svc, stored, [...pods, pod('b', '10.0.0.2')]).actions[0] as UpdateAction
  t.equal(update.type, 'update')
  t.equal((update.object['metadata'] as JsonObject)['resourceVersion'], '5', 'the update carries the precondition')
  t.equal(((update.object['subsets'] as JsonObject[])[0]?.['addresses'] as JsonObject[]).length, 2)
})

t.test('own Endpoints are deleted when the service goes or loses its selector; others are left alone', async (t) => {
  const svc = service()
  const create = reconcileEndpoints(svc, undefined, []).actions[0] as CreateAction
  t.same(create.object['subsets'], [], 'a service without pods gets empty Endpoints')
  const stored = { ...create.object, metadata: { ...(create.object['metadata'] as JsonObject), uid: 'ep-uid', resourceVersion: '5' } }
  const gone = reconcileEndpoints(undefined, stored, []).actions
  t.same(gone, [{ type: 'delete', resource: ENDPOINTS, namespace: 'default', name: 'web', uid: 'ep-uid' } satisfies DeleteAction])
  t.same(reconcileEndpoints(service({ selector: null }), stored, []).actions.map((action) => action.type), ['delete'], 'losing the selector deletes them')
  const manual: JsonObject = { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'web', namespace: 'default', uid: 'm', resourceVersion: '3' }, subsets: [{ addresses: [{ ip: '192.168.1.1' }] }] }
  t.same(reconcileEndpoints(service({ selector: null }), manual, [pod('a', '10.0.0.1')]).actions, [], 'a selector-less service keeps its own Endpoints')
  t.same(reconcileEndpoints(undefined, manual, []).actions, [], 'Endpoints this controller did not write are never deleted')
})
