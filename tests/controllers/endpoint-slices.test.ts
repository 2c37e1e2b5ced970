// Goal: the EndpointSlice reconcile lists a selector Service's pods as Kubernetes' endpointslice
// controller does — conditions ready/serving/terminating, node, zone, hostname and targetRef,
// slices per port set and address type, at most N endpoints each, the service-name and
// managed-by labels and an owner reference — passes the API's own admission, and changes as
// little as possible: endpoints stay in their slices, new ones fill slices already being
// written, slices are created or deleted only when the count must change, a service without
// endpoints keeps one placeholder, and a settled world gets no writes at all.
// Method: crafted Services and pods; each plan is applied to an in-memory list of slices through
// the API's admission (defaults + validation), and the next reconcile runs on the result.
import t from 'tap'
import { RandomXoshiro } from '../../lib/random.ts'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { admit } from '../../node/src/api/server/admission.ts'
import {
  ENDPOINT_SLICE_CONTROLLER_NAME,
  ENDPOINT_SLICES,
  MANAGED_BY_LABEL,
  SERVICE_NAME_LABEL,
  reconcileEndpointSlices,
  serviceAddressTypes,
  serviceKeyOfSlice,
  type EndpointSliceInputs,
} from '../../node/src/controllers/endpoint-slices.ts'
import type { Action, CreateAction, Plan, UpdateAction } from '../../node/src/controllers/plan.ts'

type Loose = any

function service(options: { selector?: Record<string, string> | null; ports?: JsonObject[]; labels?: Record<string, string>; clusterIP?: string; ipFamilies?: string[]; uid?: string } = {}): Loose {
  const spec: Loose = { ports: options.ports ?? [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }], clusterIP: options.clusterIP ?? '10.96.0.10' }
  if (options.selector !== null) spec.selector = options.selector ?? { app: 'web' }
  if (options.ipFamilies !== undefined) spec.ipFamilies = options.ipFamilies
  return { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default', uid: options.uid ?? 'svc-uid', labels: options.labels ?? { team: 'a' } }, spec }
}

function pod(name: string, ip: string, options: { ready?: boolean; phase?: string; deleting?: boolean; node?: string; ports?: JsonObject[]; hostname?: string; podIPs?: string[]; labels?: Record<string, string> } = {}): Loose {
  const metadata: Loose = { name, namespace: 'default', uid: `uid-${name}`, labels: options.labels ?? { app: 'web' }, resourceVersion: '7' }
  if (options.deleting === true) metadata.deletionTimestamp = '2024-01-01T00:00:00Z'
  const spec: Loose = { nodeName: options.node ?? 'node-a', containers: [{ name: 'app', image: 'web', ports: options.ports ?? [{ name: 'web', containerPort: 8080, protocol: 'TCP' }] }] }
  if (options.hostname !== undefined) Object.assign(spec, { hostname: options.hostname, subdomain: 'web' })
  const status: Loose = { phase: options.phase ?? 'Running', podIP: ip, conditions: [{ type: 'Ready', status: (options.ready ?? true) ? 'True' : 'False' }] }
  if (options.podIPs !== undefined) status.podIPs = options.podIPs.map((address) => ({ ip: address }))
  return { apiVersion: 'v1', kind: 'Pod', metadata, spec, status }
}

/** `count` ready pods named p000… with IPs 10.1.x.y. */
function pods(count: number, from = 0): Loose[] {
  return Array.from({ length: count }, (_, index) => {
    const n = from + index
    return pod(`p${String(n).padStart(3, '0')}`, `10.1.${Math.floor(n / 250)}.${(n % 250) + 1}`)
  })
}

const ZONES: Record<string, string> = { 'node-a': 'zone-1', 'node-b': 'zone-2' }

/** A tiny store of slices: applies plans through admission, as the API would. */
class SliceWorld {
  slices: Loose[] = []
  private revision = 100
  readonly random = new RandomXoshiro(7)

  inputs(svc: Loose | undefined, podList: readonly Loose[], extra: Partial<EndpointSliceInputs> = {}): EndpointSliceInputs {
    return { service: svc, slices: this.slices, pods: podList, zoneOfNode: (node) => ZONES[node], random: this.random, ...extra }
  }

  reconcile(svc: Loose | undefined, podList: readonly Loose[], extra: Partial<EndpointSliceInputs> = {}): Plan {
    return reconcileEndpointSlices(this.inputs(svc, podList, extra))
  }

  apply(plan: Plan): void {
    for (const action of plan.actions) this.applyAction(action)
  }

  /** Reconciles and applies until no writes are left (bounded). */
  settle(svc: Loose | undefined, podList: readonly Loose[], extra: Partial<EndpointSliceInputs> = {}): number {
    for (let round = 0; round < 5; round++) {
      const plan = this.reconcile(svc, podList, extra)
      if (plan.actions.length === 0) return round
      this.apply(plan)
    }
    throw new Error('the slices did not settle in 5 rounds')
  }

  /** Pod names per slice name, sorted by slice name. */
  layout(): Record<string, string[]> {
    const result: Record<string, string[]> = {}
    for (const slice of [...this.slices].sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1))) result[slice.metadata.name] = (slice.endpoints ?? []).map((endpoint: Loose) => endpoint.targetRef.name)
    return result
  }

  private applyAction(action: Action): void {
    if (action.type === 'create') {
      const name = (action.object['metadata'] as Loose).name
      if (this.slices.some((slice) => slice.metadata.name === name)) throw new Error(`slice ${name} already exists`)
      const admitted: Loose = admit(ENDPOINT_SLICES, action.object)
      admitted.metadata = { ...admitted.metadata, uid: `slice-uid-${this.revision}`, resourceVersion: String(++this.revision) }
      this.slices.push(admitted)
    } else if (action.type === 'update') {
      const index = this.slices.findIndex((slice) => slice.metadata.name === action.name)
      if (index < 0) throw new Error(`update of missing slice ${action.name}`)
      if (this.slices[index].metadata.resourceVersion !== (action.object['metadata'] as Loose).resourceVersion) throw new Error('stale update')
      const admitted: Loose = admit(ENDPOINT_SLICES, action.object, this.slices[index])
      admitted.metadata = { ...admitted.metadata, resourceVersion: String(++this.revision) }
      this.slices[index] = admitted
    } else if (action.type === 'delete') {
      const before = this.slices.length
      this.slices = this.slices.filter((slice) => !(slice.metadata.name === action.name && slice.metadata.uid === action.uid))
      if (this.slices.length !== before - 1) throw new Error(`delete of missing slice ${action.name}`)
    }
  }
}

function counts(plan: Plan): { create: number; update: number; delete: number } {
  return {
    create: plan.actions.filter((action) => action.type === 'create').length,
    update: plan.actions.filter((action) => action.type === 'update').length,
    delete: plan.actions.filter((action) => action.type === 'delete').length,
  }
}

t.test('one slice for a small service: conditions, node, zone, hostname, targetRef, labels, owner', async (t) => {
  const world = new SliceWorld()
  const podList = [
    pod('ready', '10.0.0.1'),
    pod('unready', '10.0.0.2', { ready: false, node: 'node-b' }),
    pod('leaving', '10.0.0.3', { deleting: true, node: 'node-unknown' }),
    pod('named', '10.0.0.4', { hostname: 'db-0' }),
    pod('done', '10.0.0.5', { phase: 'Succeeded', ready: false }),
    pod('noip', ''),
    pod('other', '10.0.0.6', { labels: { app: 'other' } }),
  ]
  const plan = world.reconcile(service({ clusterIP: 'None' }), podList)
  t.same(counts(plan), { create: 1, update: 0, delete: 0 })
  const slice = (plan.actions[0] as CreateAction).object as Loose
  t.equal(slice.addressType, 'IPv4')
  t.match(slice.metadata.name, /^web-[bcdfghjklmnpqrstvwxz2456789]{5}$/, 'named by generateName')
  t.equal(slice.metadata.generateName, 'web-')
  t.same(slice.metadata.labels, { team: 'a', 'service.kubernetes.io/headless': '', [SERVICE_NAME_LABEL]: 'web', [MANAGED_BY_LABEL]: ENDPOINT_SLICE_CONTROLLER_NAME })
  t.same(slice.metadata.ownerReferences, [{ apiVersion: 'v1', kind: 'Service', name: 'web', uid: 'svc-uid', controller: true, blockOwnerDeletion: true }])
  t.same(slice.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }])
  const byPod = Object.fromEntries(slice.endpoints.map((endpoint: Loose) => [endpoint.targetRef.name, endpoint]))
  t.same(Object.keys(byPod).sort(), ['leaving', 'named', 'ready', 'unready'], 'finished, IP-less and unselected pods are left out')
  t.same(byPod.ready, { addresses: ['10.0.0.1'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'node-a', zone: 'zone-1', targetRef: { kind: 'Pod', namespace: 'default', name: 'ready', uid: 'uid-ready' } })
  t.same(byPod.unready.conditions, { ready: false, serving: false, terminating: false }, 'a pod that is not ready is not ready and not serving')
  t.equal(byPod.unready.zone, 'zone-2', 'the zone is its node\'s')
  t.same(byPod.leaving.conditions, { ready: false, serving: true, terminating: true }, 'a terminating pod serves until it goes, but is never ready')
  t.equal(byPod.leaving.zone, undefined, 'no zone for an unknown node')
  t.equal(byPod.named.hostname, 'db-0', 'a pod in the service\'s subdomain has a hostname')
  world.apply(plan)
  t.same(world.reconcile(service({ clusterIP: 'None' }), podList).actions, [], 'the stored slice (after admission) is what is desired: no writes')
  t.same(world.reconcile(service({ clusterIP: 'None' }), [...podList].reverse()).actions, [], 'whatever the order of the pods')
  t.equal(serviceKeyOfSlice(world.slices[0]), 'default/web')
})

t.test('publishNotReadyAddresses makes every listed endpoint ready', async (t) => {
  const svc = service()
  svc.spec.publishNotReadyAddresses = true
  const plan = new SliceWorld().reconcile(svc, [pod('unready', '10.0.0.2', { ready: false })])
  const endpoint = ((plan.actions[0] as CreateAction).object as Loose).endpoints[0]
  t.same(endpoint.conditions, { ready: true, serving: false, terminating: false })
})

t.test('a service without pods keeps one placeholder, which the first pods take over in place', async (t) => {
  const world = new SliceWorld()
  const svc = service()
  const plan = world.reconcile(svc, [])
  t.same(counts(plan), { create: 1, update: 0, delete: 0 })
  t.same(((plan.actions[0] as CreateAction).object as Loose).endpoints, [])
  t.same(((plan.actions[0] as CreateAction).object as Loose).ports, [])
  world.apply(plan)
  t.same(world.reconcile(svc, []).actions, [], 'the placeholder is kept as it is')
  const placeholder = world.slices[0].metadata.name
  const withPods = world.reconcile(svc, pods(3))
  t.same(counts(withPods), { create: 0, update: 1, delete: 0 }, 'the placeholder is updated, not replaced')
  world.apply(withPods)
  t.same(world.layout(), { [placeholder]: ['p000', 'p001', 'p002'] })
  t.same(world.slices[0].ports, [{ name: 'http', port: 8080, protocol: 'TCP' }])
  const gone = world.reconcile(svc, [])
  t.same(counts(gone), { create: 0, update: 1, delete: 0 }, 'and becomes the placeholder again when the pods go')
  world.apply(gone)
  t.same(world.layout(), { [placeholder]: [] })
  t.same(world.slices[0].ports, [])
})

t.test('at most N endpoints per slice; changes touch as few slices as possible', async (t) => {
  const world = new SliceWorld()
  const svc = service()
  const max = { endpointsPerSliceMax: 10 }
  let podList = pods(25)
  const first = world.reconcile(svc, podList, max)
  t.same(counts(first), { create: 3, update: 0, delete: 0 })
  world.apply(first)
  t.same(Object.values(world.layout()).map((names) => names.length).sort(), [10, 10, 5])
  t.same(world.reconcile(svc, podList, max).actions, [], 'settled')

  // Three pods of one full slice go and two arrive: that slice is rewritten, nothing else.
  const full = Object.entries(world.layout()).find(([, names]) => names.length === 10)!
  const leaving = new Set(full[1].slice(0, 3))
  podList = [...podList.filter((item) => !leaving.has(item.metadata.name)), ...pods(2, 100)]
  const churn = world.reconcile(svc, podList, max)
  t.same(counts(churn), { create: 0, update: 1, delete: 0 })
  t.equal((churn.actions[0] as UpdateAction).name, full[0], 'the slice that lost pods takes the new ones')
  world.apply(churn)
  t.same(world.layout()[full[0]]?.length, 9)

  // Four new pods fit the half-empty slice: it is updated, no slice is created.
  const before = world.layout()
  const half = Object.entries(before).find(([, names]) => names.length === 5)!
  podList = [...podList, ...pods(4, 200)]
  const fill = world.reconcile(svc, podList, max)
  t.same(counts(fill), { create: 0, update: 1, delete: 0 })
  t.equal((fill.actions[0] as UpdateAction).name, half[0])
  world.apply(fill)
  t.same(world.layout()[half[0]], [...half[1], 'p200', 'p201', 'p202', 'p203'], 'existing endpoints keep their places; new ones are appended')

  // Twelve more do not fit anywhere: new slices, the existing ones untouched.
  podList = [...podList, ...pods(12, 300)]
  const grow = world.reconcile(svc, podList, max)
  t.same(counts(grow), { create: 2, update: 0, delete: 0 })
  world.apply(grow)
  for (const [name, names] of Object.entries(before)) if (name !== half[0] && name !== full[0]) t.same(world.layout()[name], names, `slice ${name} untouched`)
  t.equal(world.settle(svc, podList, max), 0)

  // Scaling to one pod: one slice keeps it, the others are deleted, no placeholder is needed.
  const keep = podList.slice(0, 1)
  const shrink = world.reconcile(svc, keep, max)
  t.equal(counts(shrink).create, 0)
  world.apply(shrink)
  t.same(Object.values(world.layout()), [[keep[0].metadata.name]])
})

t.test('a pod whose ready condition flips is updated in place', async (t) => {
  const world = new SliceWorld()
  const svc = service()
  world.apply(world.reconcile(svc, pods(3)))
  const flipped = pods(3)
  flipped[1].status.conditions = [{ type: 'Ready', status: 'False' }]
  const plan = world.reconcile(svc, flipped)
  t.same(counts(plan), { create: 0, update: 1, delete: 0 })
  const endpoints = ((plan.actions[0] as UpdateAction).object as Loose).endpoints
  t.same(endpoints.map((endpoint: Loose) => [endpoint.targetRef.name, endpoint.conditions.ready]), [['p000', true], ['p001', false], ['p002', true]])
})

t.test('named target ports split pods into slices per port set; a pod without the port is left out', async (t) => {
  const world = new SliceWorld()
  const svc = service({ ports: [{ name: 'http', port: 80, targetPort: 'web', protocol: 'TCP' }] })
  const podList = [pod('a', '10.0.0.1'), pod('b', '10.0.0.2', { ports: [{ name: 'web', containerPort: 9090, protocol: 'TCP' }] }), pod('c', '10.0.0.3', { ports: [] })]
  const plan = world.reconcile(svc, podList)
  t.same(counts(plan), { create: 2, update: 0, delete: 0 })
  const slices = plan.actions.map((action) => (action as CreateAction).object as Loose)
  t.same(slices.map((slice) => [slice.ports[0].port, slice.endpoints.map((endpoint: Loose) => endpoint.targetRef.name)]).sort(), [[8080, ['a']], [9090, ['b']]])
  world.apply(plan)
  // b's port changes to 8080: its slice is emptied and deleted; a's slice takes it.
  podList[1] = pod('b', '10.0.0.2')
  const merge = world.reconcile(svc, podList)
  t.same(counts(merge), { create: 0, update: 1, delete: 1 })
  world.apply(merge)
  t.same(Object.values(world.layout()), [['a', 'b']])
})

t.test('the service\'s IP families choose address types; a pod lists its IP of each family', async (t) => {
  t.same(serviceAddressTypes(service()), ['IPv4'])
  t.same(serviceAddressTypes(service({ clusterIP: 'fd00::10' })), ['IPv6'])
  t.same(serviceAddressTypes(service({ ipFamilies: ['IPv6', 'IPv4'] })), ['IPv6', 'IPv4'])
  const world = new SliceWorld()
  const svc = service({ ipFamilies: ['IPv4', 'IPv6'] })
  const plan = world.reconcile(svc, [pod('dual', '10.0.0.1', { podIPs: ['10.0.0.1', 'fd00::1'] }), pod('v4', '10.0.0.2')])
  const slices = plan.actions.map((action) => (action as CreateAction).object as Loose)
  t.same(slices.map((slice) => [slice.addressType, slice.endpoints.map((endpoint: Loose) => endpoint.addresses[0])]), [['IPv4', ['10.0.0.1', '10.0.0.2']], ['IPv6', ['fd00::1']]])
  world.apply(plan)
  t.same(world.reconcile(svc, [pod('dual', '10.0.0.1', { podIPs: ['10.0.0.1', 'fd00::1'] }), pod('v4', '10.0.0.2')]).actions, [])
  // Back to single-stack IPv4: the IPv6 slice goes.
  const single = world.reconcile(service({ ipFamilies: ['IPv4'] }), [pod('v4', '10.0.0.2')])
  t.equal(counts(single).delete, 1)
  t.equal((single.actions.find((action) => action.type === 'delete') as Loose).name, slices[1].metadata.name)
})

t.test('service label changes are copied onto the slices; reserved labels are the controller\'s', async (t) => {
  const world = new SliceWorld()
  world.apply(world.reconcile(service(), pods(2)))
  const relabelled = service({ labels: { team: 'b', [SERVICE_NAME_LABEL]: 'spoofed' } })
  const plan = world.reconcile(relabelled, pods(2))
  t.same(counts(plan), { create: 0, update: 1, delete: 0 })
  t.same(((plan.actions[0] as UpdateAction).object as Loose).metadata.labels, { team: 'b', [SERVICE_NAME_LABEL]: 'web', [MANAGED_BY_LABEL]: ENDPOINT_SLICE_CONTROLLER_NAME })
})

t.test('slices go with the service, its selector, or a previous owner of the same name', async (t) => {
  const world = new SliceWorld()
  world.apply(world.reconcile(service(), pods(3), { endpointsPerSliceMax: 2 }))
  t.equal(world.slices.length, 2)
  const names = world.slices.map((slice) => slice.metadata.name).sort()
  const deletedNames = (plan: Plan): string[] => plan.actions.filter((action) => action.type === 'delete').map((action) => (action as Loose).name).sort()
  t.same(deletedNames(world.reconcile(undefined, pods(3))), names, 'service gone: every managed slice is deleted')
  t.same(deletedNames(world.reconcile(service({ selector: null }), pods(3))), names, 'selector removed: likewise')
  const deleting = service()
  deleting.metadata.deletionTimestamp = '2024-01-01T00:00:00Z'
  t.same(deletedNames(world.reconcile(deleting, pods(3))), names, 'service being deleted: likewise')
  const recreated = world.reconcile(service({ uid: 'svc-uid-2' }), pods(3), { endpointsPerSliceMax: 2 })
  t.same(deletedNames(recreated), names, 'slices of an older service of the same name are deleted')
  t.equal(counts(recreated).create, 2, 'and the new service gets its own')
  const unmanaged: Loose = { ...world.slices[0], metadata: { ...world.slices[0].metadata, labels: { [SERVICE_NAME_LABEL]: 'web' } } }
  t.same(reconcileEndpointSlices({ ...world.inputs(undefined, []), slices: [unmanaged] }).actions, [], 'a slice another controller (or a user) manages is never touched')
  t.same(new SliceWorld().reconcile(service({ selector: null }), pods(3)).actions, [], 'a service without a selector gets no managed slices')
})

t.test('the same observations and seed give the same plan', async (t) => {
  const a = new SliceWorld().reconcile(service(), pods(30), { endpointsPerSliceMax: 7 })
  const b = new SliceWorld().reconcile(service(), [...pods(30)].reverse(), { endpointsPerSliceMax: 7 })
  t.same(a, b)
  t.equal(counts(a).create, 5)
})
