// Goal: StorageClasses (storage.k8s.io/v1) are served like on kube-apiserver: discovered
// cluster-scoped with short name `sc`, defaulted (reclaimPolicy Delete, volumeBindingMode
// Immediate), refused with Kubernetes' field paths (provisioner required and qualified, known
// policy and mode, immutable provisioner/parameters/policy/mode), printed as NAME PROVISIONER
// RECLAIMPOLICY VOLUMEBINDINGMODE ALLOWVOLUMEEXPANSION AGE with "(default)" after the default
// class. A cluster starts with the default class `local-path` (flotilla.dev/local-path,
// WaitForFirstConsumer), and claims created without a class get the default's name — through
// POST, server-side apply and the in-process client alike — while an explicit "" and updates are
// left alone; with several defaults the newest wins, with none nothing is filled in.
// Method: rule tables over applyDefaults/validateKind, then an ApiHandler over an in-process store
// (api-harness.ts) driven over HTTP on 127.0.0.1, and an ObjectClient over the same store; kubectl
// 1.20 (when installed) prints the classes.
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { defaultStorageClassName, ensureDefaultStorageClass } from '../../../node/src/api/server/default-storage-class.ts'
import { buildTable } from '../../../node/src/api/server/table-columns.ts'
import { ObjectClient } from '../../../node/src/controllers/manager/object-client.ts'
import { PERSISTENT_VOLUME_CLAIMS } from '../../../node/src/controllers/statefulset.ts'
import { ApiHarness } from './api-harness.ts'
import { accepted, defaulted, refused, type Loose } from './kinds-fixtures.ts'

const CLASSES = '/apis/storage.k8s.io/v1/storageclasses'
const CLAIMS = '/api/v1/namespaces/default/persistentvolumeclaims'
const TABLE = { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' }

function storageClass(fields: Loose = {}, name = 'fast'): Loose {
  return { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name }, provisioner: 'example.com/ssd', ...fields }
}

function claim(name: string, spec: Loose = {}): Loose {
  return { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name, namespace: 'default' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, ...spec } }
}

t.test('defaults: reclaimPolicy Delete, volumeBindingMode Immediate; set values are kept', async (t) => {
  const result = defaulted('StorageClass', storageClass())
  t.equal(result.reclaimPolicy, 'Delete')
  t.equal(result.volumeBindingMode, 'Immediate')
  const kept = defaulted('StorageClass', storageClass({ reclaimPolicy: 'Retain', volumeBindingMode: 'WaitForFirstConsumer' }))
  t.same([kept.reclaimPolicy, kept.volumeBindingMode], ['Retain', 'WaitForFirstConsumer'])
  accepted(t, 'StorageClass', storageClass({ parameters: { type: 'gp3' }, allowVolumeExpansion: true, mountOptions: ['noatime'] }))
  accepted(t, 'StorageClass', storageClass({ allowedTopologies: [{ matchLabelExpressions: [{ key: 'topology.kubernetes.io/zone', values: ['z1', 'z2'] }] }] }))
})

t.test('validation: provisioner, policy, mode, parameters, topologies', async (t) => {
  refused(t, 'StorageClass', storageClass({ provisioner: undefined }), { field: 'provisioner', type: 'FieldValueRequired' })
  refused(t, 'StorageClass', storageClass({ provisioner: 'not a name!' }), { field: 'provisioner', type: 'FieldValueInvalid', detail: 'name part must consist of' })
  refused(t, 'StorageClass', storageClass({ reclaimPolicy: 'Recycle' }), { field: 'reclaimPolicy', type: 'FieldValueNotSupported', detail: 'supported values: "Delete", "Retain"' })
  refused(t, 'StorageClass', storageClass({ volumeBindingMode: 'Later' }), { field: 'volumeBindingMode', type: 'FieldValueNotSupported', detail: '"Immediate", "WaitForFirstConsumer"' })
  refused(t, 'StorageClass', storageClass({ parameters: { '': 'x' } }), { field: 'parameters', type: 'FieldValueInvalid', detail: 'field can not be empty.' })
  refused(t, 'StorageClass', storageClass({ allowVolumeExpansion: 'yes' }), { field: 'allowVolumeExpansion', type: 'FieldValueInvalid' })
  refused(t, 'StorageClass', storageClass({ allowedTopologies: [{ matchLabelExpressions: [{ key: 'zone', values: [] }] }] }), {
    field: 'allowedTopologies[0].matchLabelExpressions[0].values', type: 'FieldValueRequired',
  })
  const term = { matchLabelExpressions: [{ key: 'zone', values: ['a'] }] }
  refused(t, 'StorageClass', storageClass({ allowedTopologies: [term, term] }), { field: 'allowedTopologies[1].matchLabelExpressions', type: 'FieldValueDuplicate' })
})

t.test('updates: provisioner, parameters, reclaimPolicy and volumeBindingMode are fixed; the rest may change', async (t) => {
  const old = defaulted('StorageClass', storageClass({ parameters: { type: 'gp3' } }))
  refused(t, 'StorageClass', { ...old, provisioner: 'example.com/hdd' }, { field: 'provisioner', type: 'FieldValueForbidden', detail: 'updates to provisioner are forbidden.' }, old)
  refused(t, 'StorageClass', { ...old, parameters: { type: 'io2' } }, { field: 'parameters', type: 'FieldValueForbidden', detail: 'updates to parameters are forbidden.' }, old)
  refused(t, 'StorageClass', { ...old, reclaimPolicy: 'Retain' }, { field: 'reclaimPolicy', type: 'FieldValueForbidden', detail: 'updates to reclaimPolicy are forbidden.' }, old)
  refused(t, 'StorageClass', { ...old, volumeBindingMode: 'WaitForFirstConsumer' }, { field: 'volumeBindingMode', type: 'FieldValueInvalid', detail: 'field is immutable' }, old)
  accepted(t, 'StorageClass', { ...old, allowVolumeExpansion: true, metadata: { ...old.metadata, annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } } }, old)
})

t.test('Table: kubectl\'s columns, "(default)" after the default class, unset fields as their defaults', async (t) => {
  const now = Date.parse('2024-01-01T01:00:00Z')
  const marked = storageClass({ reclaimPolicy: 'Retain', volumeBindingMode: 'WaitForFirstConsumer', allowVolumeExpansion: true }, 'local')
  marked.metadata = { name: 'local', creationTimestamp: '2024-01-01T00:00:00Z', annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } }
  const beta = storageClass({}, 'old')
  beta.metadata.annotations = { 'storageclass.beta.kubernetes.io/is-default-class': 'true' }
  const table = buildTable('StorageClass', [marked, storageClass(), beta], '1', now) as Loose
  t.same(table.columnDefinitions.map((column: Loose) => column.name), ['Name', 'Provisioner', 'ReclaimPolicy', 'VolumeBindingMode', 'AllowVolumeExpansion', 'Age'])
  t.same(table.rows[0].cells, ['local (default)', 'example.com/ssd', 'Retain', 'WaitForFirstConsumer', 'true', '60m'])
  t.same(table.rows[1].cells.slice(0, 5), ['fast', 'example.com/ssd', 'Delete', 'Immediate', 'false'])
  t.equal(table.rows[2].cells[0], 'old (default)', 'the beta annotation counts too')
})

t.test('the default class among several: the newest marked one, then by name; none when unmarked', async (t) => {
  const mark = (name: string, created: string, value = 'true'): Loose => ({ metadata: { name, creationTimestamp: created, annotations: { 'storageclass.kubernetes.io/is-default-class': value } } })
  t.equal(defaultStorageClassName([mark('a', '2024-01-01T00:00:00Z'), mark('b', '2024-02-01T00:00:00Z'), mark('c', '2024-03-01T00:00:00Z', 'false')]), 'b')
  t.equal(defaultStorageClassName([mark('z', '2024-01-01T00:00:00Z'), mark('y', '2024-01-01T00:00:00Z')]), 'y')
  t.equal(defaultStorageClassName([storageClass()]), undefined)
})

async function harness(t: Test): Promise<ApiHarness> {
  const api = await new ApiHarness().start()
  t.teardown(() => api.stop())
  return api
}

t.test('over HTTP: discovery, the default class at init, Table, claims defaulted on create only', async (t) => {
  const api = await harness(t)
  const groups = (await api.get('/apis')).json
  t.ok(groups.groups.some((group: Loose) => group.name === 'storage.k8s.io' && group.preferredVersion.groupVersion === 'storage.k8s.io/v1'), '/apis lists storage.k8s.io')
  const resources = (await api.get('/apis/storage.k8s.io/v1')).json
  t.same(resources.resources.map((resource: Loose) => [resource.name, resource.kind, resource.namespaced, resource.shortNames]), [['storageclasses', 'StorageClass', false, ['sc']]])

  const refusedReply = await api.post(CLASSES, storageClass({ provisioner: '', volumeBindingMode: 'Later' }, 'bad'))
  t.equal(refusedReply.status, 422)
  t.same(refusedReply.json.details.causes.map((cause: Loose) => [cause.reason, cause.field]), [['FieldValueRequired', 'provisioner'], ['FieldValueNotSupported', 'volumeBindingMode']])
  t.match(refusedReply.json.message, /StorageClass.storage.k8s.io "bad" is invalid/)
  t.equal((await api.post(CLASSES, storageClass({}, 'Fast'))).status, 422, 'names are DNS subdomains')

  // Before the cluster has a default class, a claim keeps having none.
  const early = await api.post(CLAIMS, claim('early'))
  t.equal(early.status, 201, early.text)
  t.equal(early.json.spec.storageClassName, undefined, 'no default class: nothing filled in')

  await api.api.ensureDefaultStorageClass()
  await api.api.ensureDefaultStorageClass()
  const classes = (await api.get(CLASSES)).json
  t.equal(classes.kind, 'StorageClassList')
  t.same(classes.items.map((item: Loose) => [item.metadata.name, item.provisioner, item.reclaimPolicy, item.volumeBindingMode, item.metadata.annotations]), [
    ['local-path', 'flotilla.dev/local-path', 'Delete', 'WaitForFirstConsumer', { 'storageclass.kubernetes.io/is-default-class': 'true' }],
  ], 'one default class, created once')
  const table = (await api.get(CLASSES, TABLE)).json
  t.same(table.rows.map((row: Loose) => row.cells.slice(0, 5)), [['local-path (default)', 'flotilla.dev/local-path', 'Delete', 'WaitForFirstConsumer', 'false']])

  const plain = await api.post(CLAIMS, claim('data'))
  t.equal(plain.status, 201, plain.text)
  t.equal(plain.json.spec.storageClassName, 'local-path', 'a claim without a class gets the default')
  t.equal((await api.post(CLAIMS, claim('static', { storageClassName: '' }))).json.spec.storageClassName, '', 'an explicit "" means no class and stays')
  t.equal((await api.post(CLAIMS, claim('fast', { storageClassName: 'fast' }))).json.spec.storageClassName, 'fast', 'a named class stays')
  const beta = claim('legacy')
  beta.metadata.annotations = { 'volume.beta.kubernetes.io/storage-class': 'slow' }
  t.equal((await api.post(CLAIMS, beta)).json.spec.storageClassName, undefined, 'a class named by the beta annotation is left alone')
  const dryRun = await api.post(`${CLAIMS}?dryRun=All`, claim('trial'))
  t.equal(dryRun.json.spec.storageClassName, 'local-path', 'dry runs show the default too')

  const applied = await api.patch(`${CLAIMS}/applied?fieldManager=test`, claim('applied'), 'application/apply-patch+yaml')
  t.equal(applied.status, 201, applied.text)
  t.equal(applied.json.spec.storageClassName, 'local-path', 'server-side apply creates get it as well')

  const relabelled = await api.patch(`${CLAIMS}/early`, { metadata: { labels: { tier: 'db' } } })
  t.equal(relabelled.status, 200, relabelled.text)
  t.equal(relabelled.json.spec.storageClassName, undefined, 'updates are never defaulted')

  const client = new ObjectClient(api.objects, { log: () => undefined })
  const fromController = await client.create(PERSISTENT_VOLUME_CLAIMS, 'default', claim('data-db-0'))
  t.equal((fromController['spec'] as Loose).storageClassName, 'local-path', 'controllers\' creates (StatefulSet claims) get it')

  // Another class marked default takes over once local-path is unmarked; with neither marked, nothing is filled in.
  const ssd = storageClass({}, 'ssd')
  ssd.metadata.annotations = { 'storageclass.kubernetes.io/is-default-class': 'true' }
  t.equal((await api.post(CLASSES, ssd)).status, 201)
  const unmark = async (name: string): Promise<void> => {
    const reply = await api.patch(`${CLASSES}/${name}`, { metadata: { annotations: { 'storageclass.kubernetes.io/is-default-class': null } } })
    t.equal(reply.status, 200, reply.text)
  }
  await unmark('local-path')
  t.equal((await api.post(CLAIMS, claim('second'))).json.spec.storageClassName, 'ssd', 'the class marked default now')
  await unmark('ssd')
  t.equal((await api.post(CLAIMS, claim('third'))).json.spec.storageClassName, undefined, 'no default left: nothing filled in')
  await ensureDefaultStorageClass(api.objects)
  t.same((await api.get(`${CLASSES}/local-path`)).json.metadata.annotations ?? {}, {}, 'running init again does not undo an administrator\'s change')
})

const KUBECTL = resolve(import.meta.dirname, '../../../.tools/kubectl120/usr/bin/kubectl')

t.test('kubectl 1.20: get sc prints the default class as a real cluster does; describe says IsDefaultClass', { skip: existsSync(KUBECTL) ? false : `kubectl 1.20 is not installed at ${KUBECTL}` }, async (t) => {
  const api = await harness(t)
  await api.api.ensureDefaultStorageClass()
  const home = mkdtempSync(join(tmpdir(), 'flotilla-sc-kubectl-'))
  t.teardown(() => rmSync(home, { recursive: true, force: true }))
  const kubectl = async (...args: string[]): Promise<string> =>
    (await promisify(execFile)(KUBECTL, ['--server', `http://127.0.0.1:${api.port()}`, '--cache-dir', join(home, 'cache'), ...args], { encoding: 'utf8', env: { ...process.env, KUBECONFIG: '/dev/null', HOME: home } })).stdout
  const listed = await kubectl('get', 'sc')
  t.match(listed, /^NAME\s+PROVISIONER\s+RECLAIMPOLICY\s+VOLUMEBINDINGMODE\s+ALLOWVOLUMEEXPANSION\s+AGE\n/)
  t.match(listed, /\nlocal-path \(default\)\s+flotilla\.dev\/local-path\s+Delete\s+WaitForFirstConsumer\s+false\s+\d+s\n$/)
  t.match(await kubectl('describe', 'storageclass', 'local-path'), /IsDefaultClass:\s+Yes/)
})
