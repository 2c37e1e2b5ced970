// Goal: pods are deleted gracefully, as kube-apiserver's pod strategy (CheckGracefulDelete) and
// BeforeDelete have it: DELETE of a pod bound to a node marks it (deletionTimestamp = now + grace,
// deletionGracePeriodSeconds = grace: DeleteOptions, else spec.terminationGracePeriodSeconds) and
// keeps it, Terminating, until a DELETE with grace 0 (its agent, or `--grace-period=0 --force`);
// an unbound pod, a finished pod or grace 0 goes at once; a second DELETE may shorten the grace
// but never lengthen it; updates of a Terminating pod (its agent's status) do not make it vanish;
// finalizers still hold a pod whose grace is over; a namespace waits for its terminating pods;
// kubectl shows Terminating, `delete` waits until the pod is gone, `--force` does not wait.
// Method: an ApiHandler over an in-process store (api-harness.ts), read back through the API;
// kubectl 1.20 against it over plain HTTP (skipped when not installed).
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { waitFor } from '../../../lib/poll.ts'
import { ApiHarness } from './api-harness.ts'

const PODS = '/api/v1/namespaces/default/pods'
const KUBECTL = resolve(import.meta.dirname, '../../../.tools/kubectl120/usr/bin/kubectl')

function pod(name: string, options: { nodeName?: string; terminationGracePeriodSeconds?: number; finalizers?: string[]; namespace?: string } = {}): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, ...(options.finalizers !== undefined ? { finalizers: options.finalizers } : {}), ...(options.namespace !== undefined ? { namespace: options.namespace } : {}) },
    spec: {
      ...(options.nodeName !== undefined ? { nodeName: options.nodeName } : {}),
      ...(options.terminationGracePeriodSeconds !== undefined ? { terminationGracePeriodSeconds: options.terminationGracePeriodSeconds } : {}),
      containers: [{ name: 'main', image: 'busybox:1.36' }],
    },
  }
}

async function harness(t: Test): Promise<ApiHarness> {
  const api = await new ApiHarness().start()
  t.teardown(() => api.stop())
  return api
}

async function exists(api: ApiHarness, path: string): Promise<boolean> {
  const reply = await api.get(path)
  if (reply.status !== 200 && reply.status !== 404) throw new Error(`GET ${path}: ${reply.status} ${reply.text}`)
  return reply.status === 200
}

function secondsBetween(laterIso: string, earlierIso: string): number {
  return (Date.parse(laterIso) - Date.parse(earlierIso)) / 1000
}

t.test('a bound pod turns Terminating with its grace period and goes with a DELETE of grace 0', async (t) => {
  const api = await harness(t)
  const created = (await api.post(PODS, pod('web', { nodeName: 'node-1' }))).json
  t.equal(created.spec.terminationGracePeriodSeconds, 30, 'the default grace period is 30 s')
  const watch = await api.watch(`${PODS}?watch=1&fieldSelector=metadata.name%3Dweb`)
  t.teardown(() => watch.close())
  const beforeMs = Date.now()
  const deleted = await api.delete(`${PODS}/web`)
  t.equal(deleted.status, 200, 'DELETE answers 200')
  t.equal(deleted.json.kind, 'Pod', 'with the pod, not a Status: it stays')
  t.equal(deleted.json.metadata.deletionGracePeriodSeconds, 30, 'deletionGracePeriodSeconds from spec.terminationGracePeriodSeconds')
  const dueInS = (Date.parse(deleted.json.metadata.deletionTimestamp) - beforeMs) / 1000
  t.ok(dueInS > 28 && dueInS <= 31, `deletionTimestamp is now + 30 s (${dueInS} s)`)
  t.equal(deleted.json.metadata.generation, created.metadata.generation + 1, 'the generation moves when the deletion starts')

  const table = await api.get(PODS, { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' })
  const row = table.json.rows.find((item: any) => item.cells[0] === 'web')
  t.equal(row.cells[2], 'Terminating', 'kubectl get shows Terminating')

  const status = await api.put(`${PODS}/web/status`, { ...deleted.json, status: { ...deleted.json.status, phase: 'Running' } })
  t.equal(status.status, 200, 'its agent still writes its status')
  t.ok(await exists(api, `${PODS}/web`), 'and the update does not make it vanish')
  const patched = await api.patch(`${PODS}/web`, { metadata: { labels: { seen: 'yes' } } })
  t.equal(patched.status, 200, 'a label patch goes through')
  t.equal(patched.json.metadata.deletionTimestamp, deleted.json.metadata.deletionTimestamp, 'and leaves the deletion fields alone')

  const longer = await api.delete(`${PODS}/web?gracePeriodSeconds=60`)
  t.equal(longer.json.metadata.resourceVersion, patched.json.metadata.resourceVersion, 'a longer grace period changes nothing')
  const shorter = await api.delete(`${PODS}/web`, { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 10 })
  t.equal(shorter.json.metadata.deletionGracePeriodSeconds, 10, 'a shorter one is taken')
  t.equal(secondsBetween(deleted.json.metadata.deletionTimestamp, shorter.json.metadata.deletionTimestamp), 20, 'and the deletionTimestamp moves 20 s earlier')
  t.ok(await exists(api, `${PODS}/web`), 'it is still Terminating')

  const stale = await api.delete(`${PODS}/web?gracePeriodSeconds=0&preconditions.uid=someone-else`)
  t.equal(stale.status, 409, 'the agent’s final DELETE carries the uid: a stale one is refused')
  const final = await api.delete(`${PODS}/web?gracePeriodSeconds=0&preconditions.uid=${created.metadata.uid}`)
  t.equal(final.status, 200)
  t.equal(final.json.status, 'Success', 'grace 0 removes it: a Success Status')
  t.notOk(await exists(api, `${PODS}/web`), 'it is gone')
  await watch.until('the watch to see the pod go', (events) => (events.some((event) => event.type === 'DELETED') ? true : undefined))
  t.same(watch.events.map((event) => event.type), ['ADDED', 'MODIFIED', 'MODIFIED', 'MODIFIED', 'MODIFIED', 'DELETED'], 'watchers saw the mark, the updates, the shorter grace and the deletion')
})

t.test('unbound pods, finished pods and grace 0 go at once; the spec’s grace period; dry runs', async (t) => {
  const api = await harness(t)
  await api.post(PODS, pod('pending'))
  t.equal((await api.delete(`${PODS}/pending`)).json.status, 'Success', 'a pod no node runs goes at once')

  const finished = (await api.post(PODS, pod('finished', { nodeName: 'node-1' }))).json
  await api.put(`${PODS}/finished/status`, { ...finished, status: { phase: 'Succeeded' } })
  t.equal((await api.delete(`${PODS}/finished`)).json.status, 'Success', 'a Succeeded pod goes at once')

  await api.post(PODS, pod('forced', { nodeName: 'node-1' }))
  t.equal((await api.delete(`${PODS}/forced`, { gracePeriodSeconds: 0 })).json.status, 'Success', 'grace 0 (kubectl --grace-period=0 --force) goes at once')

  await api.post(PODS, pod('quick', { nodeName: 'node-1', terminationGracePeriodSeconds: 5 }))
  t.equal((await api.delete(`${PODS}/quick`)).json.metadata.deletionGracePeriodSeconds, 5, 'spec.terminationGracePeriodSeconds is the default')
  await api.post(PODS, pod('asked', { nodeName: 'node-1', terminationGracePeriodSeconds: 5 }))
  t.equal((await api.delete(`${PODS}/asked?gracePeriodSeconds=120`)).json.metadata.deletionGracePeriodSeconds, 120, 'DeleteOptions win over the spec')

  await api.post(PODS, pod('dry', { nodeName: 'node-1' }))
  const before = api.snapshot()
  const dry = await api.delete(`${PODS}/dry?dryRun=All`)
  t.equal(dry.json.metadata.deletionGracePeriodSeconds, 30, 'a dry run answers with the mark')
  t.equal(api.snapshot(), before, 'and writes nothing')
})

t.test('finalizers hold a pod past its grace; deletecollection; a namespace waits for its terminating pods', async (t) => {
  const api = await harness(t)
  const held = (await api.post(PODS, pod('held', { nodeName: 'node-1', finalizers: ['example.com/hold'] }))).json
  const marked = await api.delete(`${PODS}/held`)
  t.equal(marked.json.metadata.deletionGracePeriodSeconds, 30, 'a pod with a finalizer is marked with its grace period')
  const released = await api.patch(`${PODS}/held`, { metadata: { finalizers: null } })
  t.equal(released.status, 200)
  t.ok(await exists(api, `${PODS}/held`), 'without its finalizer it still waits for its grace period (its agent)')
  const zero = await api.delete(`${PODS}/held?gracePeriodSeconds=0&preconditions.uid=${held.metadata.uid}`)
  t.equal(zero.json.status, 'Success', 'grace 0 then removes it')

  const kept = (await api.post(PODS, pod('kept', { nodeName: 'node-1', finalizers: ['example.com/hold'] }))).json
  const forced = await api.delete(`${PODS}/kept?gracePeriodSeconds=0`)
  t.equal(forced.json.metadata.deletionGracePeriodSeconds, 0, 'grace 0 with a finalizer marks the pod with grace 0')
  t.ok(await exists(api, `${PODS}/kept`), 'and the finalizer keeps it')
  await api.patch(`${PODS}/kept`, { metadata: { finalizers: null } })
  t.notOk(await exists(api, `${PODS}/kept`), 'removing the finalizer of a pod whose grace is over deletes it')
  t.ok(kept.metadata.uid)

  await api.post(PODS, pod('bound-a', { nodeName: 'node-1' }))
  await api.post(PODS, pod('bound-b', { nodeName: 'node-2' }))
  await api.post(PODS, pod('loose'))
  const collection = await api.delete(PODS)
  t.equal(collection.status, 200)
  t.same(collection.json.items.map((item: any) => [item.metadata.name, item.metadata.deletionGracePeriodSeconds ?? null]).sort(), [['bound-a', 30], ['bound-b', 30], ['loose', null]], 'deletecollection marks bound pods and removes the others')
  const left = (await api.get(PODS)).json.items.map((item: any) => item.metadata.name).sort()
  t.same(left, ['bound-a', 'bound-b'], 'the bound ones are Terminating')

  await api.post('/api/v1/namespaces', { metadata: { name: 'team' } })
  const inTeam = (await api.post('/api/v1/namespaces/team/pods', pod('worker', { nodeName: 'node-1' }))).json
  const namespace = await api.delete('/api/v1/namespaces/team')
  t.equal(namespace.json.status.phase, 'Terminating', 'the namespace turns Terminating')
  const worker = (await api.get('/api/v1/namespaces/team/pods/worker')).json
  t.ok(worker.metadata.deletionTimestamp, 'its pod is deleted gracefully')
  t.ok(await exists(api, '/api/v1/namespaces/team'), 'the namespace waits for the terminating pod')
  await api.delete(`/api/v1/namespaces/team/pods/worker?gracePeriodSeconds=0&preconditions.uid=${inTeam.metadata.uid}`)
  await waitFor('the namespace to go', 5000, async () => ((await exists(api, '/api/v1/namespaces/team')) ? undefined : true))
  t.pass('the pod gone (its agent’s DELETE), the namespace goes')
})

if (!existsSync(KUBECTL)) {
  t.test('kubectl and graceful pod deletion', { skip: `kubectl 1.20 is not installed at ${KUBECTL}` }, async () => {})
} else {
  t.test('kubectl 1.20: Terminating in get, delete waits until the pod is gone, --force does not', async (t) => {
    const api = await harness(t)
    const work = mkdtempSync(join(tmpdir(), 'flotilla-graceful-kubectl-'))
    t.teardown(() => rmSync(work, { recursive: true, force: true }))
    const kubeconfig = join(work, 'kubeconfig')
    writeFileSync(
      kubeconfig,
      ['apiVersion: v1', 'kind: Config', `clusters: [{name: local, cluster: {server: "http://127.0.0.1:${api.port()}"}}]`, 'users: [{name: me, user: {}}]', 'contexts: [{name: local, context: {cluster: local, user: me}}]', 'current-context: local', ''].join('\n'),
    )
    const kubectl = async (...rest: string[]): Promise<string> => {
      const { stdout } = await promisify(execFile)(KUBECTL, ['--kubeconfig', kubeconfig, '--cache-dir', join(work, 'cache'), ...rest], { timeout: 30_000 })
      return stdout
    }
    await api.post(PODS, pod('slow', { nodeName: 'node-1' }))
    await api.post(PODS, pod('stuck', { nodeName: 'node-1' }))
    t.match(await kubectl('delete', 'pod', 'stuck', '--wait=false'), /pod "stuck" deleted/, 'delete --wait=false returns at once')
    t.match(await kubectl('get', 'pod', 'stuck', '--no-headers'), /^stuck\s+0\/1\s+Terminating\s/, 'get shows the pod Terminating')

    // kubectl delete waits for the pod to go; a stand-in agent deletes it with grace 0 meanwhile.
    let deleteReturned = false
    const deleting = kubectl('delete', 'pod', 'slow').then((stdout) => {
      deleteReturned = true
      return stdout
    })
    const marked = await waitFor('the pod to be marked', 10_000, async () => ((await api.get(`${PODS}/slow`)).json.metadata?.deletionTimestamp !== undefined ? (await api.get(`${PODS}/slow`)).json : undefined))
    t.notOk(deleteReturned, 'kubectl delete still waits while the pod is Terminating')
    await api.delete(`${PODS}/slow?gracePeriodSeconds=0&preconditions.uid=${marked.metadata.uid}`)
    t.match(await deleting, /pod "slow" deleted/, 'and returns once the agent has deleted it')

    t.match(await kubectl('delete', 'pod', 'stuck', '--grace-period=0', '--force'), /force deleted|deleted/, 'delete --grace-period=0 --force')
    t.notOk(await exists(api, `${PODS}/stuck`), 'removes a Terminating pod at once')
  })
}
