// Goal: the node's local-path provisioner makes a claim of the `local-path` class usable on the
// node that runs its first pod: a directory (mode 0777) and a PersistentVolume `pvc-<uid>` pinned
// to the node, with the claim's request, access modes and the class's reclaim policy, and the
// claim and volume bound to each other; `pathOf` then answers the directory. It refuses what it
// cannot serve with named errors (missing claim, a claim being deleted, Block mode, a volume on
// another node), leaves claims of other classes alone, and adopts a volume an interrupted
// provisioning left. Two nodes provisioning one claim at once end with exactly one volume, bound,
// on the winner's node; the loser is told, and keeps no directory. Reclaim: Delete removes the
// directory and the volume once the claim is gone (also when it was replaced by a claim of the
// same name) and no unfinished pod here mounts it, Retain marks it Released and keeps the data;
// volumes of other nodes, and paths outside the root, are never touched.
// Method: an in-process API (MemoryObjectBackend + ObjectStore + ObjectClient), provisioners over
// temporary directories; pods are plain objects (the agent passes its pods the same way).
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { ensureDefaultStorageClass, STORAGE_CLASSES } from '../../node/src/api/server/default-storage-class.ts'
import { MemoryObjectBackend } from '../../node/src/api/server/memory-backend.ts'
import { ObjectStore } from '../../node/src/api/server/object-store.ts'
import { NAMESPACES } from '../../node/src/api/server/resource-refs.ts'
import { ClaimNotFoundError, ClaimUnusableError, LocalPathProvisioner, VolumeNodeConflictError } from '../../node/src/agent/local-path-provisioner.ts'
import { VolumeSetupError } from '../../node/src/agent/volumes/volume-errors.ts'
import { ObjectClient } from '../../node/src/controllers/manager/object-client.ts'
import { PERSISTENT_VOLUMES } from '../../node/src/controllers/manager/shared-informers.ts'
import { PODS } from '../../node/src/controllers/plan.ts'
import { PERSISTENT_VOLUME_CLAIMS } from '../../node/src/controllers/statefulset.ts'

type Loose = any

interface World {
  readonly objects: ObjectStore
  readonly client: ObjectClient
  readonly logged: string[]
  provisioner(nodeName: string): Promise<{ provisioner: LocalPathProvisioner; rootDir: string }>
}

async function world(t: Test): Promise<World> {
  const objects = new ObjectStore(new MemoryObjectBackend())
  const logged: string[] = []
  const client = new ObjectClient(objects, { log: (line) => logged.push(line) })
  await objects.create(NAMESPACES, undefined, { metadata: { name: 'default' }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } })
  await ensureDefaultStorageClass(objects)
  const base = await mkdtemp(join(tmpdir(), 'flotilla-local-path-'))
  t.teardown(() => rm(base, { recursive: true, force: true }))
  return {
    objects,
    client,
    logged,
    async provisioner(nodeName) {
      const rootDir = join(base, nodeName)
      return { provisioner: new LocalPathProvisioner({ client, nodeName, rootDir, log: (line) => logged.push(`${nodeName}: ${line}`) }), rootDir }
    },
  }
}

function claim(name: string, spec: Loose = {}, metadata: Loose = {}): JsonObject {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, namespace: 'default', ...metadata },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '2Gi' } }, ...spec },
  }
}

function pod(name: string, nodeName: string, claimNames: readonly string[]): JsonObject {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', uid: `uid-${name}` },
    spec: {
      nodeName,
      containers: [{ name: 'app', image: 'busybox' }],
      volumes: claimNames.map((claimName, index) => ({ name: `v${index}`, persistentVolumeClaim: { claimName } })),
    },
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  )
}

const uidOf = (object: Loose): string => object.metadata.uid

t.test('provisioning: a directory, a pinned volume, and the two bound', async (t) => {
  const { client, provisioner: provisionerFor } = await world(t)
  const { provisioner, rootDir } = await provisionerFor('node-a')
  const created = (await client.create(PERSISTENT_VOLUME_CLAIMS, 'default', claim('data'))) as Loose
  t.equal(created.spec.storageClassName, 'local-path', 'the claim got the default class')
  const web = pod('web-0', 'node-a', ['data'])
  t.equal(provisioner.pathOf(web, 'data'), undefined, 'nothing known before ensureClaims')
  await provisioner.ensureClaims(web)

  const volumeName = `pvc-${uidOf(created)}`
  const path = join(rootDir, `${volumeName}_default_data`)
  const volume = (await client.get(PERSISTENT_VOLUMES, undefined, volumeName)) as Loose
  t.same(volume.metadata.annotations, { 'pv.kubernetes.io/provisioned-by': 'flotilla.dev/local-path' })
  t.same(volume.spec.capacity, { storage: '2Gi' }, 'capacity: the claim\'s request')
  t.same(volume.spec.accessModes, ['ReadWriteOnce'])
  t.equal(volume.spec.persistentVolumeReclaimPolicy, 'Delete', 'the class\'s policy')
  t.equal(volume.spec.storageClassName, 'local-path')
  t.same(volume.spec.hostPath, { path, type: 'DirectoryOrCreate' })
  t.same(volume.spec.nodeAffinity, { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['node-a'] }] }] } })
  t.match(volume.spec.claimRef, { kind: 'PersistentVolumeClaim', namespace: 'default', name: 'data', uid: uidOf(created) })
  t.equal(volume.status.phase, 'Bound')

  const bound = (await client.get(PERSISTENT_VOLUME_CLAIMS, 'default', 'data')) as Loose
  t.equal(bound.spec.volumeName, volumeName)
  t.same(bound.status, { phase: 'Bound', accessModes: ['ReadWriteOnce'], capacity: { storage: '2Gi' } })
  t.equal(bound.metadata.annotations['pv.kubernetes.io/bind-completed'], 'yes')

  t.equal((await stat(path)).mode & 0o777, 0o777, 'any container user may write')
  t.equal(provisioner.pathOf(web, 'data'), path)
  t.equal(provisioner.pathOf(pod('other', 'node-a', []), 'logs'), undefined)

  // Again, and from a second pod of the claim on the same node: no new writes.
  const versions = [volume.metadata.resourceVersion, bound.metadata.resourceVersion]
  await Promise.all([provisioner.ensureClaims(web), provisioner.ensureClaims(pod('web-1', 'node-a', ['data']))])
  const after = [(await client.get(PERSISTENT_VOLUMES, undefined, volumeName)) as Loose, (await client.get(PERSISTENT_VOLUME_CLAIMS, 'default', 'data')) as Loose]
  t.same(after.map((object) => object.metadata.resourceVersion), versions, 'idempotent')
  t.equal((await client.objects.list(PERSISTENT_VOLUMES, undefined)).items.length, 1)
  t.equal(provisioner.pathOf(pod('web-1', 'node-a', ['data']), 'data'), path)
})

t.test('refusals: missing, being deleted, Block; other classes are left alone', async (t) => {
  const { client, provisioner: provisionerFor } = await world(t)
  const { provisioner } = await provisionerFor('node-a')
  const missing = await provisioner.ensureClaims(pod('p', 'node-a', ['nope'])).catch((error: unknown) => error)
  t.ok(missing instanceof ClaimNotFoundError && missing instanceof VolumeSetupError, 'ClaimNotFoundError, a VolumeSetupError')
  t.equal((missing as Error).message, 'persistentvolumeclaim "nope" not found')

  await client.create(STORAGE_CLASSES, undefined, { metadata: { name: 'nfs' }, provisioner: 'example.com/nfs' })
  await client.create(PERSISTENT_VOLUME_CLAIMS, 'default', claim('shared', { storageClassName: 'nfs' }))
  await client.create(PERSISTENT_VOLUME_CLAIMS, 'default', claim('static', { storageClassName: '' }))
  await client.create(PERSISTENT_VOLUME_CLAIMS, 'default', claim('ghost', { storageClassName: 'gone' }))
  await provisioner.ensureClaims(pod('p', 'node-a', ['shared', 'static', 'ghost']))
  t.equal((await client.objects.list(PERSISTENT_VOLUMES, undefined)).items.length, 0, 'no volume for claims of other or unknown classes')
  t.equal(provisioner.pathOf(pod('p', 'node-a', []), 'shared'), undefined, 'their pods wait as "not bound"')

  await client.create(PERSISTENT_VOLUME_CLAIMS, 'default', claim('raw', { volumeMode: 'Block' }))
  const block = await provisioner.ensureClaims(pod('p', 'node-a', ['raw'])).catch((error: unknown) => error)
  t.ok(block instanceof ClaimUnusableError)
  t.match((block as Error).message, /volumeMode Block is not supported/)

  const held = (await client.create(PERSISTENT_VOLUME_CLAIMS, 'default', claim('held', {}, { finalizers: ['example.com/hold'] }))) as Loose
  await client.delete(PERSISTENT_VOLUME_CLAIMS, 'default', 'held', uidOf(held))
  const deleting = await provisioner.ensureClaims(pod('p', 'node-a', ['held', 'nope'])).catch((error: unknown) => error)
  t.ok(deleting instanceof ClaimUnusableError, 'the first problem is reported')
  t.equal((deleting as Error).message, 'persistentvolumeclaim "held" is being deleted')
  t.equal((await client.objects.list(PERSISTENT_VOLUMES, undefined)).items.length, 0, 'nothing provisioned for any of them')
})

t.test('two nodes provisioning one claim at once: exactly one volume, bound, on the winner\'s node', async (t) => {
  const { client, provisioner: provisionerFor } = await world(t)
  const a = await provisionerFor('node-a')
  const b = await provisionerFor('node-b')
  for (let round = 0; round < 6; round++) {
    const name = `data-${round}`
    const created = (await client.create(PERSISTENT_VOLUME_CLAIMS, 'default', claim(name))) as Loose
    const pods = [pod(`a-${round}`, 'node-a', [name]), pod(`b-${round}`, 'node-b', [name])]
    // Alternate who starts first so that both orders of the race run.
    const order = round % 2 === 0 ? [a, b] : [b, a]
    const podOrder = round % 2 === 0 ? pods : [pods[1]!, pods[0]!]
    const results = await Promise.allSettled(order.map((side, index) => side.provisioner.ensureClaims(podOrder[index]!)))
    const winners = results.filter((result) => result.status === 'fulfilled')
    t.equal(winners.length, 1, `round ${round}: one node may use the claim`)
    const loser = results.find((result) => result.status === 'rejected') as PromiseRejectedResult | undefined
    t.ok(loser?.reason instanceof VolumeNodeConflictError, `round ${round}: the other is told: ${String(loser?.reason?.message)}`)

    const volumes = (await client.objects.list(PERSISTENT_VOLUMES, undefined)).items.filter((volume: Loose) => volume.spec.claimRef.name === name) as Loose[]
    t.equal(volumes.length, 1, `round ${round}: exactly one volume`)
    const volume = volumes[0]
    const winnerNode: string = volume.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0]
    const winner = winnerNode === 'node-a' ? a : b
    const loserSide = winnerNode === 'node-a' ? b : a
    t.equal(winner, order[results.indexOf(winners[0]!)], `round ${round}: the volume is on the node whose call succeeded`)
    const bound = (await client.get(PERSISTENT_VOLUME_CLAIMS, 'default', name)) as Loose
    t.equal(bound.spec.volumeName, `pvc-${uidOf(created)}`)
    t.equal(bound.status.phase, 'Bound')
    t.equal(volume.status.phase, 'Bound')
    const dirName = `pvc-${uidOf(created)}_default_${name}`
    t.ok(await exists(join(winner.rootDir, dirName)), `round ${round}: the winner has the directory`)
    t.notOk(await exists(join(loserSide.rootDir, dirName)), `round ${round}: the loser kept none`)
    const loserPod = winnerNode === 'node-a' ? pods[1]! : pods[0]!
    t.equal(loserSide.provisioner.pathOf(loserPod, name), undefined, `round ${round}: no path on the loser`)
  }
})

t.test('adoption: a volume left by an interrupted provisioning is bound, not duplicated', async (t) => {
  const { client, provisioner: provisionerFor } = await world(t)
  const { provisioner } = await provisionerFor('node-a')
  const created = (await client.create(PERSISTENT_VOLUME_CLAIMS, 'default', claim('data'))) as Loose
  // What step 2 leaves behind when the node dies before binding: the volume, with its claimRef.
  const orphan = await provisionerFor('node-a')
  const leftover = {
    metadata: { name: `pvc-${uidOf(created)}`, annotations: { 'pv.kubernetes.io/provisioned-by': 'flotilla.dev/local-path' } },
    spec: {
      capacity: { storage: '2Gi' },
      accessModes: ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Delete',
      storageClassName: 'local-path',
      hostPath: { path: join(orphan.rootDir, `pvc-${uidOf(created)}_default_data`), type: 'DirectoryOrCreate' },
      nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['node-a'] }] }] } },
      claimRef: { kind: 'PersistentVolumeClaim', namespace: 'default', name: 'data', uid: uidOf(created) },
    },
  }
  await client.create(PERSISTENT_VOLUMES, undefined, leftover)
  await provisioner.ensureClaims(pod('web', 'node-a', ['data']))
  t.equal((await client.objects.list(PERSISTENT_VOLUMES, undefined)).items.length, 1)
  t.equal(((await client.get(PERSISTENT_VOLUME_CLAIMS, 'default', 'data')) as Loose).spec.volumeName, leftover.metadata.name)
  t.equal(((await client.get(PERSISTENT_VOLUMES, undefined, leftover.metadata.name)) as Loose).status.phase, 'Bound')
  t.equal(provisioner.pathOf(pod('web', 'node-a', []), 'data'), leftover.spec.hostPath.path)
})

t.test('reclaim Delete: once the claim is gone, its directory and volume go', async (t) => {
  const { client, provisioner: provisionerFor } = await world(t)
  const a = await provisionerFor('node-a')
  const b = await provisionerFor('node-b')
  const created = (await client.create(PERSISTENT_VOLUME_CLAIMS, 'default', claim('data'))) as Loose
  const other = (await client.create(PERSISTENT_VOLUME_CLAIMS, 'default', claim('logs'))) as Loose
  const web = pod('web', 'node-a', ['data', 'logs'])
  await a.provisioner.ensureClaims(web)
  const path = a.provisioner.pathOf(web, 'data')!
  await writeFile(join(path, 'file.txt'), 'data')

  await a.provisioner.reclaimReleased()
  t.ok(await exists(path), 'nothing is reclaimed while the claim exists')

  // The pod still runs here when its claim is deleted (nothing protects claims in use yet).
  const running = (await client.create(PODS, 'default', { ...web, metadata: { name: 'web', namespace: 'default' } })) as Loose
  await client.delete(PERSISTENT_VOLUME_CLAIMS, 'default', 'data', uidOf(created))
  await b.provisioner.reclaimReleased()
  t.ok(await exists(path), 'another node leaves this node\'s volume alone')
  await a.provisioner.reclaimReleased()
  t.ok(await exists(join(path, 'file.txt')), 'the data of a pod that still runs here stays')
  t.equal((await client.objects.list(PERSISTENT_VOLUMES, undefined)).items.length, 2)

  await client.updateStatus(PODS, 'default', 'web', { ...running, status: { phase: 'Succeeded' } })
  await a.provisioner.reclaimReleased()
  t.notOk(await exists(path), 'the directory is removed')
  const names = (await client.objects.list(PERSISTENT_VOLUMES, undefined)).items.map((volume: Loose) => volume.metadata.name)
  t.same(names, [`pvc-${uidOf(other)}`], 'the volume is deleted; the other claim\'s stays')
  t.equal(a.provisioner.pathOf(web, 'data'), undefined, 'and forgotten')
  t.ok(a.provisioner.pathOf(web, 'logs'), 'the other claim is still known')

  // A claim of the same name but a new uid gets a new volume; the old one is released.
  const replaced = (await client.get(PERSISTENT_VOLUME_CLAIMS, 'default', 'logs')) as Loose
  await client.delete(PERSISTENT_VOLUME_CLAIMS, 'default', 'logs', uidOf(replaced))
  const successor = (await client.create(PERSISTENT_VOLUME_CLAIMS, 'default', claim('logs'))) as Loose
  await a.provisioner.ensureClaims(pod('web', 'node-a', ['logs']))
  await a.provisioner.reclaimReleased()
  const remaining = (await client.objects.list(PERSISTENT_VOLUMES, undefined)).items.map((volume: Loose) => volume.metadata.name)
  t.same(remaining, [`pvc-${uidOf(successor)}`], 'the replaced claim\'s volume is reclaimed, the successor\'s kept')
  t.same(await readdir(a.rootDir), [`pvc-${uidOf(successor)}_default_logs`])
})

t.test('reclaim Retain: the volume is marked Released and the data stays', async (t) => {
  const { client, provisioner: provisionerFor } = await world(t)
  const { provisioner } = await provisionerFor('node-a')
  await client.create(STORAGE_CLASSES, undefined, { metadata: { name: 'keep' }, provisioner: 'flotilla.dev/local-path', reclaimPolicy: 'Retain', volumeBindingMode: 'WaitForFirstConsumer' })
  const created = (await client.create(PERSISTENT_VOLUME_CLAIMS, 'default', claim('data', { storageClassName: 'keep' }))) as Loose
  const web = pod('web', 'node-a', ['data'])
  await provisioner.ensureClaims(web)
  const path = provisioner.pathOf(web, 'data')!
  await writeFile(join(path, 'file.txt'), 'precious')
  const volumeName = `pvc-${uidOf(created)}`
  t.equal(((await client.get(PERSISTENT_VOLUMES, undefined, volumeName)) as Loose).spec.persistentVolumeReclaimPolicy, 'Retain')

  await client.delete(PERSISTENT_VOLUME_CLAIMS, 'default', 'data', uidOf(created))
  await provisioner.reclaimReleased()
  await provisioner.reclaimReleased()
  const released = (await client.get(PERSISTENT_VOLUMES, undefined, volumeName)) as Loose
  t.equal(released.status.phase, 'Released')
  t.ok(await exists(join(path, 'file.txt')), 'the data stays')
})

t.test('reclaim never deletes outside the root, whatever a volume says', async (t) => {
  const { client, logged, provisioner: provisionerFor } = await world(t)
  const { provisioner, rootDir } = await provisionerFor('node-a')
  const outside = await mkdtemp(join(tmpdir(), 'flotilla-outside-'))
  t.teardown(() => rm(outside, { recursive: true, force: true }))
  await writeFile(join(outside, 'keep.txt'), 'keep')
  await client.create(PERSISTENT_VOLUMES, undefined, {
    metadata: { name: 'pvc-forged', annotations: { 'pv.kubernetes.io/provisioned-by': 'flotilla.dev/local-path' } },
    spec: {
      capacity: { storage: '1Gi' },
      accessModes: ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Delete',
      hostPath: { path: outside },
      nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['node-a'] }] }] } },
      claimRef: { kind: 'PersistentVolumeClaim', namespace: 'default', name: 'gone', uid: 'uid-gone' },
    },
  })
  await provisioner.reclaimReleased()
  t.ok(await exists(join(outside, 'keep.txt')), 'the directory outside the root stays')
  t.ok(await client.get(PERSISTENT_VOLUMES, undefined, 'pvc-forged'), 'and so does the volume')
  t.match(logged.join('\n'), new RegExp(`pvc-forged: path ${outside} is not one this provisioner made under ${rootDir}`))
})
