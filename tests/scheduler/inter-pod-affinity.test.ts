// Goal: InterPodAffinity honours the pod's required affinity and anti-affinity, placed pods'
// anti-affinity, namespaces, and scores preferences. Method: nodes in zones with placed pods;
// each case lists the nodes a pod may use, the reason on the others, or the normalized scores.
import t from 'tap'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import {
  interPodAffinityFilterPlugin,
  interPodAffinityScorePlugin,
  REASON_AFFINITY_RULES,
  REASON_ANTI_AFFINITY_RULES,
  REASON_EXISTING_ANTI_AFFINITY,
} from '../../node/src/scheduler/plugins/inter-pod-affinity.ts'
import { ClusterSnapshot } from '../../node/src/scheduler/snapshot.ts'
import { acceptedNodes, filterResults, makeNode, makePod, scoreResults } from './fixtures.ts'

const HOSTNAME = 'kubernetes.io/hostname'
const ZONE = 'topology.kubernetes.io/zone'

/** Nodes a1, a2 in zone z1, b1 in z2, c1 in z3, and "bare" without a zone label. */
function cluster(): ClusterSnapshot {
  return ClusterSnapshot.from({
    nodes: [makeNode('a1', { zone: 'z1' }), makeNode('a2', { zone: 'z1' }), makeNode('b1', { zone: 'z2' }), makeNode('c1', { zone: 'z3' }), makeNode('bare')],
  })
}

function term(labels: Record<string, string>, topologyKey: string, extra: JsonObject = {}): JsonObject {
  return { labelSelector: { matchLabels: labels }, topologyKey, ...extra }
}

function antiAffinity(...terms: JsonObject[]): JsonObject {
  return { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: terms } }
}

function affinity(...terms: JsonObject[]): JsonObject {
  return { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: terms } }
}

t.test('required anti-affinity by hostname keeps replicas on different nodes', async (t) => {
  const snapshot = cluster()
  snapshot.assumePod(makePod('web-1', { labels: { app: 'web' } }), 'a1')
  snapshot.assumePod(makePod('web-2', { labels: { app: 'web' } }), 'b1')
  const results = filterResults(interPodAffinityFilterPlugin, makePod('web-3', { labels: { app: 'web' }, affinity: antiAffinity(term({ app: 'web' }, HOSTNAME)) }), snapshot)
  t.same(acceptedNodes(results), ['a2', 'bare', 'c1'])
  t.same(results.get('a1'), [REASON_ANTI_AFFINITY_RULES])
  t.same(results.get('b1'), [REASON_ANTI_AFFINITY_RULES])
})

t.test('required anti-affinity by zone excludes the whole zone, and nodes without the key pass', async (t) => {
  const snapshot = cluster()
  snapshot.assumePod(makePod('web-1', { labels: { app: 'web' } }), 'a1')
  const results = filterResults(interPodAffinityFilterPlugin, makePod('web-2', { labels: { app: 'web' }, affinity: antiAffinity(term({ app: 'web' }, ZONE)) }), snapshot)
  t.same(acceptedNodes(results), ['b1', 'bare', 'c1'])
  t.same(results.get('a2'), [REASON_ANTI_AFFINITY_RULES], 'a2 shares zone z1 with web-1')
})

t.test("placed pods' anti-affinity keeps matching pods out of their domain", async (t) => {
  const snapshot = cluster()
  snapshot.assumePod(makePod('db', { labels: { app: 'db' }, affinity: antiAffinity(term({ app: 'web' }, ZONE)) }), 'a2')
  const web = filterResults(interPodAffinityFilterPlugin, makePod('web', { labels: { app: 'web' } }), snapshot)
  t.same(acceptedNodes(web), ['b1', 'bare', 'c1'])
  t.same(web.get('a1'), [REASON_EXISTING_ANTI_AFFINITY])
  t.same(acceptedNodes(filterResults(interPodAffinityFilterPlugin, makePod('other', { labels: { app: 'other' } }), snapshot)), ['a1', 'a2', 'b1', 'bare', 'c1'])
  snapshot.removePod('default/db')
  t.same(filterResults(interPodAffinityFilterPlugin, makePod('web', { labels: { app: 'web' } }), snapshot).get('a1'), 'skip', 'with db gone the plugin has nothing to check')
})

t.test('required affinity needs a matching pod in the domain, and the topology key on the node', async (t) => {
  const snapshot = cluster()
  snapshot.assumePod(makePod('cache', { labels: { app: 'cache' } }), 'a1')
  const results = filterResults(interPodAffinityFilterPlugin, makePod('web', { labels: { app: 'web' }, affinity: affinity(term({ app: 'cache' }, ZONE)) }), snapshot)
  t.same(acceptedNodes(results), ['a1', 'a2'])
  t.same(results.get('b1'), [REASON_AFFINITY_RULES])
  t.same(results.get('bare'), [REASON_AFFINITY_RULES])
})

t.test('required affinity: the first pod of a self-attracting group may go anywhere with the key', async (t) => {
  const snapshot = cluster()
  const first = makePod('etcd-0', { labels: { app: 'etcd' }, affinity: affinity(term({ app: 'etcd' }, ZONE)) })
  t.same(acceptedNodes(filterResults(interPodAffinityFilterPlugin, first, snapshot)), ['a1', 'a2', 'b1', 'c1'])
  const stranger = makePod('web', { labels: { app: 'web' }, affinity: affinity(term({ app: 'etcd' }, ZONE)) })
  t.same(acceptedNodes(filterResults(interPodAffinityFilterPlugin, stranger, snapshot)), [], 'a pod that does not match its own term waits for a match')
  snapshot.assumePod(first, 'b1')
  t.same(acceptedNodes(filterResults(interPodAffinityFilterPlugin, makePod('etcd-1', { labels: { app: 'etcd' }, affinity: affinity(term({ app: 'etcd' }, ZONE)) }), snapshot)), ['b1'])
})

t.test('required affinity with several terms counts pods that match all of them', async (t) => {
  const snapshot = cluster()
  snapshot.assumePod(makePod('cache', { labels: { app: 'cache' } }), 'a1')
  snapshot.assumePod(makePod('cache-fast', { labels: { app: 'cache', tier: 'fast' } }), 'b1')
  const pod = makePod('web', { affinity: affinity(term({ app: 'cache' }, ZONE), term({ tier: 'fast' }, HOSTNAME)) })
  t.same(acceptedNodes(filterResults(interPodAffinityFilterPlugin, pod, snapshot)), ['b1'])
})

t.test('affinity terms look in the pod namespace unless namespaces or a namespaceSelector say otherwise', async (t) => {
  const snapshot = cluster()
  snapshot.upsertNamespace({ metadata: { name: 'team-a', labels: { team: 'a' } } })
  snapshot.upsertNamespace({ metadata: { name: 'team-b', labels: { team: 'b' } } })
  snapshot.assumePod(makePod('web-a', { namespace: 'team-a', labels: { app: 'web' } }), 'a1')
  snapshot.assumePod(makePod('web-b', { namespace: 'team-b', labels: { app: 'web' } }), 'b1')
  const cases: Array<[string, JsonObject, string[]]> = [
    ['own namespace (default) has no web pod', term({ app: 'web' }, HOSTNAME), ['a1', 'a2', 'b1', 'bare', 'c1']],
    ['namespaces lists team-a', term({ app: 'web' }, HOSTNAME, { namespaces: ['team-a'] }), ['a2', 'b1', 'bare', 'c1']],
    ['an empty namespaceSelector means every namespace', term({ app: 'web' }, HOSTNAME, { namespaceSelector: {} }), ['a2', 'bare', 'c1']],
    ['namespaceSelector by label', term({ app: 'web' }, HOSTNAME, { namespaceSelector: { matchLabels: { team: 'b' } } }), ['a1', 'a2', 'bare', 'c1']],
  ]
  for (const [name, antiTerm, expected] of cases) {
    t.same(acceptedNodes(filterResults(interPodAffinityFilterPlugin, makePod('p', { affinity: antiAffinity(antiTerm) }), snapshot)), expected, name)
  }
  snapshot.upsertNamespace({ metadata: { name: 'team-a', labels: { team: 'b' } } })
  const relabelled = filterResults(interPodAffinityFilterPlugin, makePod('p', { affinity: antiAffinity(term({ app: 'web' }, HOSTNAME, { namespaceSelector: { matchLabels: { team: 'b' } } })) }), snapshot)
  t.same(acceptedNodes(relabelled), ['a2', 'bare', 'c1'], 'relabelling a namespace is seen at once')
})

t.test('preferred anti-affinity scores the least crowded domain highest', async (t) => {
  const snapshot = cluster()
  snapshot.assumePod(makePod('web-1', { labels: { app: 'web' } }), 'a1')
  snapshot.assumePod(makePod('web-2', { labels: { app: 'web' } }), 'a1')
  snapshot.assumePod(makePod('web-3', { labels: { app: 'web' } }), 'b1')
  const pod = makePod('web-4', {
    labels: { app: 'web' },
    affinity: { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: term({ app: 'web' }, HOSTNAME) }] } },
  })
  const scores = scoreResults(interPodAffinityScorePlugin(1), pod, snapshot)
  // Raw: a1 = −200, b1 = −100, others 0 → min–max normalized.
  t.same(scores === 'skip' ? scores : Object.fromEntries(scores), { a1: 0, a2: 100, b1: 50, bare: 100, c1: 100 })
})

t.test("preferred affinity and placed pods' preferences and required terms add up", async (t) => {
  const snapshot = cluster()
  snapshot.assumePod(makePod('cache', { labels: { app: 'cache' } }), 'c1')
  // A placed pod that would like web pods in its zone, and one that requires them on its node.
  snapshot.assumePod(makePod('fan', { affinity: { podAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 30, podAffinityTerm: term({ app: 'web' }, ZONE) }] } } }), 'a2')
  snapshot.assumePod(makePod('needy', { affinity: affinity(term({ app: 'web' }, HOSTNAME)) }), 'b1')
  const pod = makePod('web', {
    labels: { app: 'web' },
    affinity: { podAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 10, podAffinityTerm: term({ app: 'cache' }, ZONE) }] } },
  })
  const weights = (hard: number) => {
    const scores = scoreResults(interPodAffinityScorePlugin(hard), pod, snapshot)
    return scores === 'skip' ? scores : Object.fromEntries(scores)
  }
  // Raw with hardPodAffinityWeight 1: a1 = a2 = 30 (zone z1), b1 = 1, c1 = 10, bare = 0.
  t.same(weights(1), { a1: 100, a2: 100, b1: 3, bare: 0, c1: 33 })
  // With weight 100, b1 = 100 is the best.
  t.same(weights(100), { a1: 30, a2: 30, b1: 100, bare: 0, c1: 10 })
  t.equal(scoreResults(interPodAffinityScorePlugin(1), makePod('plain', { labels: { app: 'other' } }), snapshot), 'skip', 'nothing concerns this pod')
})
