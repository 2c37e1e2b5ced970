// Goal: the official JavaScript client, @kubernetes/client-node 1.4, works against any node of a
// Flotilla cluster: typed CRUD on namespaces and ConfigMaps (replace, JSON patch by default, merge
// patch through its header middleware), Deployments with the scale subresource, errors surfacing
// as ApiException with Kubernetes' codes (404, 409 on a stale resourceVersion, 422), the Watch
// class, and an informer (makeInformer, a ListWatch) that follows changes made through other
// nodes, survives the loss of the node it watches and resumes from its resourceVersion.
// Method: three daemons on 127.0.0.1 (DaemonCluster: init a, join b and c), one kubeconfig from
// `flotilla kubeconfig` with a context per node loaded with KubeConfig.loadFromFile, each step
// through a different node than the one before; polling with deadlines (waitFor), never sleeps.
import * as k8s from '@kubernetes/client-node'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { waitFor } from '../../lib/poll.ts'
import { DaemonCluster } from '../cluster/daemon-cluster.ts'

const CLI = resolve(import.meta.dirname, '../../node/src/cli.ts')
const NODES = ['a', 'b', 'c'] as const
type NodeName = (typeof NODES)[number]
const NAMESPACE = 'client-node'
/** Deadline for a change made through one node to show on another (replication plus a watch hop). */
const PROPAGATION_TIMEOUT_MS = 15_000
const run = promisify(execFile)

/** The ApiException client-node throws for a non-2xx answer, with its Status body parsed. */
async function apiError(promise: Promise<unknown>): Promise<{ code: number; reason: string; message: string }> {
  try {
    await promise
  } catch (error) {
    if (!(error instanceof k8s.ApiException)) throw error
    const exception = error as k8s.ApiException<unknown>
    const body = typeof exception.body === 'string' ? (JSON.parse(exception.body) as { reason?: string; message?: string }) : {}
    return { code: exception.code, reason: body.reason ?? '', message: body.message ?? '' }
  }
  throw new Error('Expected the call to fail with an ApiException, but it succeeded')
}

/** Retries a call until it succeeds: writes may meet a leader election while a node is down. */
async function eventually<T>(what: string, call: () => Promise<T>): Promise<T> {
  return waitFor(what, PROPAGATION_TIMEOUT_MS, async () => {
    try {
      return await call()
    } catch {
      return undefined
    }
  }, 100)
}

t.test('client-node 1.4 against every node of a 3-node cluster', async (t) => {
  const cluster = new DaemonCluster({ FLOTILLA_CONTROLLERS: 'off' }) // API semantics only: no controller writes racing the test's reads
  const work = mkdtempSync(join(tmpdir(), 'flotilla-client-node-'))
  const stoppers: Array<() => Promise<void> | void> = []
  t.teardown(async () => {
    for (const stop of stoppers) await stop()
    await cluster.destroy()
    rmSync(work, { recursive: true, force: true })
  })
  const token = await cluster.init('a', 'z1')
  await cluster.join('b', 'z2', token)
  await cluster.join('c', 'z3', token)
  await waitFor('every node to know the leader', 20_000, async () => {
    for (const name of NODES) if (((await cluster.status(name))?.leader ?? '') === '') return undefined
    return true
  })
  const { stdout } = await run(process.execPath, [CLI, 'kubeconfig', '--data', cluster.dataDirectory('a')])
  const kubeconfigPath = join(work, 'kubeconfig')
  writeFileSync(kubeconfigPath, stdout)
  const configFor = (node: NodeName): k8s.KubeConfig => {
    const config = new k8s.KubeConfig()
    config.loadFromFile(kubeconfigPath)
    config.setCurrentContext(node)
    return config
  }
  const core = Object.fromEntries(NODES.map((node) => [node, configFor(node).makeApiClient(k8s.CoreV1Api)])) as Record<NodeName, k8s.CoreV1Api>
  const apps = Object.fromEntries(NODES.map((node) => [node, configFor(node).makeApiClient(k8s.AppsV1Api)])) as Record<NodeName, k8s.AppsV1Api>
  const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch)
  t.same(configFor('a').getContexts().map((context) => context.name).sort(), [...NODES], 'the kubeconfig has a context per node')

  await t.test('namespaces: create, read, list, replace, patch, delete', async (t) => {
    const created = await core.a.createNamespace({ body: { metadata: { name: NAMESPACE, labels: { team: 'clients' } } } })
    t.equal(created.metadata?.name, NAMESPACE, 'created through a')
    t.match(created.metadata?.uid, /^[0-9a-f-]{36}$/, 'with a uid')
    const read = await core.b.readNamespace({ name: NAMESPACE })
    t.equal(read.metadata?.labels?.['team'], 'clients', 'read through b')
    const listed = await core.c.listNamespace({ labelSelector: 'team=clients' })
    t.same(listed.items.map((item) => item.metadata?.name), [NAMESPACE], 'listed through c with a label selector')
    const replaced = await core.a.replaceNamespace({ name: NAMESPACE, body: { ...read, metadata: { ...read.metadata, labels: { team: 'clients', stage: 'replaced' } } } })
    t.equal(replaced.metadata?.labels?.['stage'], 'replaced', 'replaced through a')
    t.not(replaced.metadata?.resourceVersion, read.metadata?.resourceVersion, 'with a new resourceVersion')
    const jsonPatched = await core.b.patchNamespace({ name: NAMESPACE, body: [{ op: 'add', path: '/metadata/labels/patched', value: 'json' }] })
    t.equal(jsonPatched.metadata?.labels?.['patched'], 'json', 'JSON patch (client-node\'s default patch type) through b')
    const merged = await core.c.patchNamespace({ name: NAMESPACE, body: { metadata: { labels: { patched: 'merge', stage: null } } } }, mergePatch)
    t.equal(merged.metadata?.labels?.['patched'], 'merge', 'merge patch through c, via the Content-Type header middleware')
    t.notOk('stage' in (merged.metadata?.labels ?? {}), 'and its null deletes a label')

    await core.a.createNamespace({ body: { metadata: { name: 'client-node-doomed' } } })
    await core.b.deleteNamespace({ name: 'client-node-doomed' })
    // A namespace may linger while it is finalized (Terminating); it must be gone in the end.
    const gone = await waitFor('the deleted namespace to disappear on c', PROPAGATION_TIMEOUT_MS, async () => {
      const error = await apiError(core.c.readNamespace({ name: 'client-node-doomed' })).catch(() => undefined)
      return error?.code === 404 ? error : undefined
    })
    t.equal(gone.reason, 'NotFound', 'deleted through b, NotFound through c')
  })

  await t.test('configmaps: create, read, list, replace, JSON/merge/strategic patch, delete', async (t) => {
    const body: k8s.V1ConfigMap = { metadata: { name: 'settings', labels: { app: 'demo' } }, data: { mode: 'fast' } }
    const created = await core.b.createNamespacedConfigMap({ namespace: NAMESPACE, body })
    t.equal(created.metadata?.namespace, NAMESPACE, 'created through b')
    const read = await core.c.readNamespacedConfigMap({ name: 'settings', namespace: NAMESPACE })
    t.same(read.data, { mode: 'fast' }, 'read through c')
    const listed = await core.a.listNamespacedConfigMap({ namespace: NAMESPACE, labelSelector: 'app=demo' })
    t.same(listed.items.map((item) => item.metadata?.name), ['settings'], 'listed through a')
    t.match(listed.metadata?.resourceVersion, /^\d+$/, 'the list has a resourceVersion')
    const replaced = await core.b.replaceNamespacedConfigMap({ name: 'settings', namespace: NAMESPACE, body: { ...read, data: { mode: 'slow' } } })
    t.same(replaced.data, { mode: 'slow' }, 'replaced through b')
    const jsonPatched = await core.c.patchNamespacedConfigMap({ name: 'settings', namespace: NAMESPACE, body: [{ op: 'replace', path: '/data/mode', value: 'json' }, { op: 'add', path: '/data/extra', value: '1' }] })
    t.same(jsonPatched.data, { mode: 'json', extra: '1' }, 'JSON patch through c')
    const merged = await core.a.patchNamespacedConfigMap({ name: 'settings', namespace: NAMESPACE, body: { data: { extra: null, merged: 'yes' } } }, mergePatch)
    t.same(merged.data, { mode: 'json', merged: 'yes' }, 'merge patch through a')
    const strategic = await core.b.patchNamespacedConfigMap({ name: 'settings', namespace: NAMESPACE, body: { metadata: { labels: { strategic: 'yes' } } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.StrategicMergePatch))
    t.equal(strategic.metadata?.labels?.['strategic'], 'yes', 'strategic merge patch through b')
    const deleted = await core.c.deleteNamespacedConfigMap({ name: 'settings', namespace: NAMESPACE })
    t.ok(deleted, 'deleted through c')
    const missing = await apiError(core.a.readNamespacedConfigMap({ name: 'settings', namespace: NAMESPACE }))
    t.equal(missing.code, 404, 'and gone through a')
  })

  await t.test('errors are ApiExceptions with Kubernetes codes and reasons', async (t) => {
    const notFound = await apiError(core.a.readNamespacedConfigMap({ name: 'nope', namespace: NAMESPACE }))
    t.equal(notFound.code, 404, 'a missing object is 404')
    t.equal(notFound.reason, 'NotFound')
    t.match(notFound.message, /configmaps "nope" not found/)

    const original = await core.b.createNamespacedConfigMap({ namespace: NAMESPACE, body: { metadata: { name: 'contended' }, data: { owner: 'first' } } })
    await core.c.replaceNamespacedConfigMap({ name: 'contended', namespace: NAMESPACE, body: { ...original, data: { owner: 'second' } } })
    const conflict = await apiError(core.a.replaceNamespacedConfigMap({ name: 'contended', namespace: NAMESPACE, body: { ...original, data: { owner: 'third' } } }))
    t.equal(conflict.code, 409, 'a replace with a stale resourceVersion is 409')
    t.equal(conflict.reason, 'Conflict')
    t.match(conflict.message, /the object has been modified/)
    t.same((await core.b.readNamespacedConfigMap({ name: 'contended', namespace: NAMESPACE })).data, { owner: 'second' }, 'and changed nothing')
    const duplicate = await apiError(core.c.createNamespacedConfigMap({ namespace: NAMESPACE, body: { metadata: { name: 'contended' } } }))
    t.equal(duplicate.code, 409, 'a duplicate create is 409')
    t.equal(duplicate.reason, 'AlreadyExists')

    const badName = await apiError(core.a.createNamespacedConfigMap({ namespace: NAMESPACE, body: { metadata: { name: 'Bad_Name' } } }))
    t.equal(badName.code, 422, 'an invalid name is 422')
    t.equal(badName.reason, 'Invalid')
    const mismatched = await apiError(
      apps.b.createNamespacedDeployment({
        namespace: NAMESPACE,
        body: { metadata: { name: 'broken' }, spec: { selector: { matchLabels: { app: 'one' } }, template: { metadata: { labels: { app: 'other' } }, spec: { containers: [{ name: 'main', image: 'busybox:1.36' }] } } } },
      }),
    )
    t.equal(mismatched.code, 422, 'a Deployment whose selector misses its template is 422')
    t.match(mismatched.message, /selector/)
  })

  await t.test('deployments: create, read, list, and the scale subresource', async (t) => {
    const body: k8s.V1Deployment = {
      metadata: { name: 'web', labels: { app: 'web' } },
      spec: { replicas: 2, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'busybox:1.36' }] } } },
    }
    const created = await apps.c.createNamespacedDeployment({ namespace: NAMESPACE, body })
    t.equal(created.spec?.replicas, 2, 'created through c')
    t.equal(created.spec?.revisionHistoryLimit, 10, 'with defaults applied')
    const read = await apps.a.readNamespacedDeployment({ name: 'web', namespace: NAMESPACE })
    t.equal(read.metadata?.generation, 1, 'read through a')
    const listed = await apps.b.listNamespacedDeployment({ namespace: NAMESPACE })
    t.same(listed.items.map((item) => item.metadata?.name), ['web'], 'listed through b')
    const scale = await apps.a.readNamespacedDeploymentScale({ name: 'web', namespace: NAMESPACE })
    t.equal(scale.spec?.replicas, 2, 'readNamespacedDeploymentScale through a')
    t.equal(scale.status?.selector, 'app=web', 'with the selector')
    const scaled = await apps.b.replaceNamespacedDeploymentScale({ name: 'web', namespace: NAMESPACE, body: { ...scale, spec: { replicas: 5 } } })
    t.equal(scaled.spec?.replicas, 5, 'replaceNamespacedDeploymentScale through b')
    const after = await apps.c.readNamespacedDeployment({ name: 'web', namespace: NAMESPACE })
    t.equal(after.spec?.replicas, 5, 'the Deployment through c has the new replicas')
    t.equal(after.metadata?.generation, 2, 'and a new generation')
    const stale = await apiError(apps.a.replaceNamespacedDeploymentScale({ name: 'web', namespace: NAMESPACE, body: { ...scale, spec: { replicas: 1 } } }))
    t.equal(stale.code, 409, 'a scale with a stale resourceVersion is 409')
  })

  await t.test('Watch sees ADDED, MODIFIED and DELETED for changes made through other nodes', async (t) => {
    const events: Array<{ type: string; name: string; data: unknown }> = []
    let ended: unknown = 'still open'
    const controller = await new k8s.Watch(configFor('a')).watch(
      `/api/v1/namespaces/${NAMESPACE}/configmaps`,
      {},
      (type, object: k8s.V1ConfigMap) => events.push({ type, name: object.metadata?.name ?? '', data: object.data }),
      (error: unknown) => (ended = error),
    )
    stoppers.push(() => controller.abort())
    // Without a resourceVersion the watch starts with the current objects as ADDED.
    await waitFor('the watch to list the existing object', PROPAGATION_TIMEOUT_MS, async () => (events.some((event) => event.name === 'contended') ? true : undefined))
    await core.b.createNamespacedConfigMap({ namespace: NAMESPACE, body: { metadata: { name: 'watched' }, data: { step: '1' } } })
    await core.c.patchNamespacedConfigMap({ name: 'watched', namespace: NAMESPACE, body: { data: { step: '2' } } }, mergePatch)
    await core.b.deleteNamespacedConfigMap({ name: 'watched', namespace: NAMESPACE })
    const watched = await waitFor('ADDED, MODIFIED and DELETED of "watched"', PROPAGATION_TIMEOUT_MS, async () => {
      const mine = events.filter((event) => event.name === 'watched')
      return mine.some((event) => event.type === 'DELETED') ? mine : undefined
    })
    t.same(watched.map((event) => event.type), ['ADDED', 'MODIFIED', 'DELETED'], 'in order, once each')
    t.same(watched[1]?.data, { step: '2' }, 'MODIFIED carries the new data')
    t.equal(ended, 'still open', 'the watch stayed open throughout')
    controller.abort()
  })

  await t.test('an informer follows other nodes, survives the loss of its node and resumes', async (t) => {
    // Watch through a node that is not the leader, so that losing it keeps the cluster writable.
    const leader = await cluster.leader()
    const watchedNode = NODES.find((node) => node !== leader)!
    const writers = NODES.filter((node) => node !== watchedNode)
    const [first, second] = [writers[0]!, writers[1]!]
    const seen: Array<{ verb: string; name: string; mode: string | undefined }> = []
    const errors: unknown[] = []
    const informer = k8s.makeInformer(configFor(watchedNode), `/api/v1/namespaces/${NAMESPACE}/configmaps`, () => core[watchedNode].listNamespacedConfigMap({ namespace: NAMESPACE }))
    for (const verb of [k8s.ADD, k8s.UPDATE, k8s.DELETE] as const) {
      informer.on(verb, (object: k8s.V1ConfigMap) => seen.push({ verb, name: object.metadata?.name ?? '', mode: object.data?.['mode'] }))
    }
    informer.on(k8s.ERROR, (error: unknown) => errors.push(error))
    stoppers.push(() => informer.stop())
    await informer.start()
    await waitFor('the informer to list the existing object', PROPAGATION_TIMEOUT_MS, async () => (informer.get('contended', NAMESPACE) !== undefined ? true : undefined))
    t.ok(seen.some((event) => event.verb === k8s.ADD && event.name === 'contended'), 'the initial list is reported as adds')

    await core[first].createNamespacedConfigMap({ namespace: NAMESPACE, body: { metadata: { name: 'informed' }, data: { mode: 'created' } } })
    await core[second].patchNamespacedConfigMap({ name: 'informed', namespace: NAMESPACE, body: { data: { mode: 'updated' } } }, mergePatch)
    await waitFor('the informer to see the update', PROPAGATION_TIMEOUT_MS, async () => (informer.get('informed', NAMESPACE)?.data?.['mode'] === 'updated' ? true : undefined))
    await core[first].deleteNamespacedConfigMap({ name: 'informed', namespace: NAMESPACE })
    await waitFor('the informer to see the delete', PROPAGATION_TIMEOUT_MS, async () => (informer.get('informed', NAMESPACE) === undefined ? true : undefined))
    const informed = seen.filter((event) => event.name === 'informed')
    t.same(informed.map((event) => event.verb), [k8s.ADD, k8s.UPDATE, k8s.DELETE], `add, update and delete through ${first} and ${second} reach the informer on ${watchedNode}`)
    t.same(informed.map((event) => event.mode), ['created', 'updated', 'updated'], 'each with the object as it was')

    // The informer's node dies: its watch breaks and it reports the error (client-node leaves the
    // restart to the caller). Changes keep flowing through the other nodes meanwhile.
    t.ok(informer instanceof k8s.ListWatch, 'makeInformer gives a ListWatch')
    await cluster.kill(watchedNode)
    await waitFor('the informer to report the lost connection', PROPAGATION_TIMEOUT_MS, async () => (errors.length > 0 ? true : undefined))
    const resumeFrom = informer instanceof k8s.ListWatch ? informer.latestResourceVersion() : ''
    await eventually('a create during the outage', () => core[first].createNamespacedConfigMap({ namespace: NAMESPACE, body: { metadata: { name: 'during-outage' }, data: { mode: 'offline' } } }))
    await eventually('a delete during the outage', () => core[second].deleteNamespacedConfigMap({ name: 'contended', namespace: NAMESPACE }))
    await cluster.start(watchedNode)
    await eventually(`${watchedNode}'s API to serve again`, () => core[watchedNode].readNamespace({ name: NAMESPACE }))
    const seenBeforeResume = seen.length
    await informer.start()
    await waitFor('the informer to catch up with the outage', PROPAGATION_TIMEOUT_MS, async () => (informer.get('during-outage', NAMESPACE) !== undefined && informer.get('contended', NAMESPACE) === undefined ? true : undefined))
    const caughtUp = seen.slice(seenBeforeResume)
    t.ok(caughtUp.some((event) => event.verb === k8s.ADD && event.name === 'during-outage'), 'after the restart it reports the object created during the outage')
    t.ok(caughtUp.some((event) => event.verb === k8s.DELETE && event.name === 'contended'), 'and the one deleted during the outage')
    t.match(resumeFrom, /^\d+$/, `it resumed from resourceVersion ${resumeFrom}`)

    await core[first].createNamespacedConfigMap({ namespace: NAMESPACE, body: { metadata: { name: 'after-resume' }, data: { mode: 'online' } } })
    await waitFor('the resumed informer to see a new change', PROPAGATION_TIMEOUT_MS, async () => (informer.get('after-resume', NAMESPACE) !== undefined ? true : undefined))
    t.pass('and keeps following live changes')
    t.same(informer.list(NAMESPACE).map((object) => object.metadata?.name).sort(), (await core[second].listNamespacedConfigMap({ namespace: NAMESPACE })).items.map((item) => item.metadata?.name).sort(), 'its cache equals a fresh list')
    await informer.stop()
  })
})
