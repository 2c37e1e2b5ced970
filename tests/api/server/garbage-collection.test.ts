// Goal: the garbage-collection plan is Kubernetes' collector as a pure function: which dependents
// a deletion deletes, marks or releases, in which order, for each propagation policy, including
// shared dependents, finalizers, cluster-scoped owners, namespaces and reference cycles. Method:
// tables of small object graphs; plans are compared as `op target` lines.
import t from 'tap'
import { blockingDependents, identityOf, planDependents, type GcStep, type PropagationPolicy } from '../../../node/src/api/server/garbage-collection.ts'
import type { ResourceObject, ResourceRef } from '../../../node/src/api/server/object-store.ts'

const CONFIGMAPS: ResourceRef = { group: '', resource: 'configmaps', kind: 'ConfigMap', apiVersion: 'v1', namespaced: true }
const NODES: ResourceRef = { group: '', resource: 'nodes', kind: 'Node', apiVersion: 'v1', namespaced: false }

interface Spec {
  name: string
  namespace?: string
  owners?: string[]
  blocking?: string[]
  finalizers?: string[]
  deleting?: boolean
  cluster?: boolean
}

/** Objects whose uid is `uid-<name>`; owners are referenced by name. */
function world(...specs: Spec[]): ResourceObject[] {
  return specs.map((spec) => {
    const resource = spec.cluster === true ? NODES : CONFIGMAPS
    const references = [...(spec.owners ?? []).map((owner) => ({ uid: `uid-${owner}` })), ...(spec.blocking ?? []).map((owner) => ({ uid: `uid-${owner}`, blockOwnerDeletion: true }))]
    return {
      resource,
      object: {
        metadata: {
          name: spec.name,
          uid: `uid-${spec.name}`,
          ...(spec.cluster === true ? {} : { namespace: spec.namespace ?? 'default' }),
          ...(references.length > 0 ? { ownerReferences: references.map((reference) => ({ apiVersion: 'v1', kind: 'ConfigMap', name: reference.uid.slice(4), ...reference })) } : {}),
          ...(spec.finalizers !== undefined ? { finalizers: spec.finalizers } : {}),
          ...(spec.deleting === true ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
        },
      },
    }
  })
}

function plan(objects: ResourceObject[], owners: string[], policy: PropagationPolicy): string[] {
  const identities = owners.map((name) => {
    const found = objects.find(({ object }) => (object['metadata'] as { name: string }).name === name)
    return found !== undefined ? identityOf(found.resource, found.object) : { resource: CONFIGMAPS, namespace: 'default', name, uid: `uid-${name}` }
  })
  // Background owners are already gone from the store.
  const snapshot = policy === 'Background' ? objects.filter(({ object }) => !owners.includes((object['metadata'] as { name: string }).name)) : objects
  return planDependents({ owners: identities, policy, objects: snapshot }).map(describe)
}

function describe(step: GcStep): string {
  const target = `${step.target.namespace ?? '-'}/${step.target.name}`
  switch (step.op) {
    case 'mark':
      return `mark${step.foreground ? ' foreground' : ''} ${target}`
    case 'detach':
      return `detach ${target} from ${step.ownerUids.join(',')}`
    default:
      return `${step.op} ${target}`
  }
}

t.test('planDependents: Background deletes dependents, theirs in turn, owners first', async (t) => {
  const cases: Array<{ name: string; objects: ResourceObject[]; owners: string[]; expected: string[] }> = [
    { name: 'no dependents', objects: world({ name: 'owner' }, { name: 'other' }), owners: ['owner'], expected: [] },
    {
      name: 'a chain, breadth first',
      objects: world({ name: 'owner' }, { name: 'child', owners: ['owner'] }, { name: 'grandchild', owners: ['child'] }, { name: 'sibling', owners: ['owner'] }),
      owners: ['owner'],
      expected: ['delete default/child', 'delete default/sibling', 'delete default/grandchild'],
    },
    {
      name: 'a dependent with another live owner only loses the reference',
      objects: world({ name: 'owner' }, { name: 'other' }, { name: 'shared', owners: ['owner', 'other'] }),
      owners: ['owner'],
      expected: ['detach default/shared from uid-owner'],
    },
    {
      name: 'a dependent whose other owner is gone too is deleted',
      objects: world({ name: 'owner' }, { name: 'shared', owners: ['owner', 'vanished'] }),
      owners: ['owner'],
      expected: ['delete default/shared'],
    },
    {
      name: 'an owner waiting in a foreground deletion does not keep a dependent',
      objects: world({ name: 'owner' }, { name: 'leaving', finalizers: ['foregroundDeletion'], deleting: true }, { name: 'shared', owners: ['owner', 'leaving'] }),
      owners: ['owner'],
      expected: ['delete default/shared'],
    },
    {
      name: 'a dependent with finalizers is marked, and its dependents wait',
      objects: world({ name: 'owner' }, { name: 'held', owners: ['owner'], finalizers: ['x.io/f'] }, { name: 'below', owners: ['held'] }),
      owners: ['owner'],
      expected: ['mark default/held'],
    },
    {
      name: 'a dependent already being deleted is left alone',
      objects: world({ name: 'owner' }, { name: 'held', owners: ['owner'], finalizers: ['x.io/f'], deleting: true }),
      owners: ['owner'],
      expected: [],
    },
    {
      name: 'a namespaced owner has no dependents in other namespaces',
      objects: world({ name: 'owner' }, { name: 'far', namespace: 'other', owners: ['owner'] }),
      owners: ['owner'],
      expected: [],
    },
    {
      name: 'a cluster-scoped owner has dependents everywhere',
      objects: world({ name: 'node', cluster: true }, { name: 'a', owners: ['node'] }, { name: 'b', namespace: 'other', owners: ['node'] }, { name: 'node-child', cluster: true, owners: ['node'] }),
      owners: ['node'],
      expected: ['delete default/a', 'delete other/b', 'delete -/node-child'],
    },
    {
      // As with Kubernetes' collector: each keeps the other alive, and the plan still ends.
      name: 'a cycle of references keeps itself alive',
      objects: world({ name: 'owner' }, { name: 'x', owners: ['owner', 'y'] }, { name: 'y', owners: ['x'] }),
      owners: ['owner'],
      expected: ['detach default/x from uid-owner'],
    },
    {
      name: 'two owners at once (deletecollection)',
      objects: world({ name: 'o1' }, { name: 'o2' }, { name: 'both', owners: ['o1', 'o2'] }, { name: 'one', owners: ['o1'] }),
      owners: ['o1', 'o2'],
      expected: ['delete default/both', 'delete default/one'],
    },
  ]
  for (const { name, objects, owners, expected } of cases) t.same(plan(objects, owners, 'Background'), expected, name)
})

t.test('planDependents: Orphan only releases direct dependents', async (t) => {
  const objects = world({ name: 'owner' }, { name: 'child', owners: ['owner', 'other'] }, { name: 'grandchild', owners: ['child'] }, { name: 'other' }, { name: 'far', namespace: 'x', owners: ['owner'] })
  t.same(plan(objects, ['owner'], 'Orphan'), ['detach default/child from uid-owner'])
})

t.test('planDependents: Foreground marks owners of dependents first and finishes them after', async (t) => {
  const cases: Array<{ name: string; objects: ResourceObject[]; expected: string[] }> = [
    { name: 'no dependents: the owner finishes at once', objects: world({ name: 'owner', finalizers: ['foregroundDeletion'], deleting: true }), expected: ['finish-foreground default/owner'] },
    {
      name: 'a tree, depth first',
      objects: world(
        { name: 'owner', finalizers: ['foregroundDeletion'], deleting: true },
        { name: 'child', blocking: ['owner'] },
        { name: 'grandchild', blocking: ['child'] },
        { name: 'leaf', owners: ['owner'] },
      ),
      expected: ['mark foreground default/child', 'delete default/grandchild', 'finish-foreground default/child', 'delete default/leaf', 'finish-foreground default/owner'],
    },
    {
      name: 'a leaf with finalizers is marked (it blocks until they run)',
      objects: world({ name: 'owner', finalizers: ['foregroundDeletion'], deleting: true }, { name: 'held', blocking: ['owner'], finalizers: ['x.io/f'] }),
      expected: ['mark default/held', 'finish-foreground default/owner'],
    },
    {
      name: 'a dependent kept by another owner is released instead',
      objects: world({ name: 'owner', finalizers: ['foregroundDeletion'], deleting: true }, { name: 'other' }, { name: 'shared', blocking: ['owner'], owners: ['other'] }),
      expected: ['finish-foreground default/owner', 'detach default/shared from uid-owner'],
    },
  ]
  for (const { name, objects, expected } of cases) t.same(plan(objects, ['owner'], 'Foreground'), expected, name)
})

t.test('blockingDependents: only references with blockOwnerDeletion, minus what is gone', async (t) => {
  const objects = world({ name: 'owner' }, { name: 'blocker', blocking: ['owner'] }, { name: 'loose', owners: ['owner'] }, { name: 'gone', blocking: ['owner'] })
  const owner = identityOf(objects[0]!.resource, objects[0]!.object)
  t.same(blockingDependents(owner, objects, new Set(['uid-gone'])).map((identity) => identity.name), ['blocker'])
  t.same(blockingDependents(owner, objects.slice(0, 1)), [], 'none left')
})
