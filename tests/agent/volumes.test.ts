// Goal: the volume manager sets up every volume type the way the kubelet does (layout, files,
// modes, hostPath type checks, claims), computes container mounts (subPath, read-only rules),
// refreshes projected files when their sources change, and tears a pod's volumes down without
// touching hostPath data. Method: a VolumeManager on a fresh temporary directory per test, with
// in-memory config maps and secrets.
import t, { type Test } from 'tap'
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { createServer } from 'node:net'
import { join } from 'node:path'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import type { ConfigSources } from '../../node/src/agent/container-env.ts'
import { VolumeManager, VolumeSetupError, type VolumeManagerOptions } from '../../node/src/agent/volumes/volume-manager.ts'

const UID = '3f1c2a9e-0000-4000-8000-000000000001'

interface World {
  readonly root: string
  readonly manager: VolumeManager
  readonly configMaps: Map<string, JsonObject>
  readonly secrets: Map<string, JsonObject>
}

function worldOf(t: Test, options: Partial<VolumeManagerOptions> = {}): World {
  const root = t.testdir({})
  const configMaps = new Map<string, JsonObject>()
  const secrets = new Map<string, JsonObject>()
  const sources: ConfigSources = {
    configMap: (namespace, name) => configMaps.get(`${namespace}/${name}`),
    secret: (namespace, name) => secrets.get(`${namespace}/${name}`),
  }
  return { root, configMaps, secrets, manager: new VolumeManager({ rootDir: join(root, 'agent'), sources, ...options }) }
}

function podOf(volumes: JsonObject[], containers: JsonObject[] = [], uid = UID): JsonObject {
  return { metadata: { name: 'web-0', namespace: 'ns', uid, labels: { app: 'web' }, annotations: { owner: 'ops' } }, spec: { nodeName: 'n1', containers, volumes } }
}

function base64(text: string): string {
  return Buffer.from(text).toString('base64')
}

async function modeOf(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  )
}

function setupError(message: string | RegExp): { name: string; message: string | RegExp } {
  return { name: 'VolumeSetupError', message }
}

t.test('emptyDir: a 0777 directory in the kubelet layout, kept across setUp calls', async (t) => {
  const { manager, root } = worldOf(t)
  const pod = podOf([{ name: 'scratch', emptyDir: {} }, { name: 'cache', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } }])
  const paths = await manager.setUp(pod)
  const scratch = paths.get('scratch')
  t.equal(scratch, join(root, 'agent', 'pods', UID, 'volumes', 'kubernetes.io~empty-dir', 'scratch'))
  t.equal(await modeOf(scratch as string), 0o777)
  t.ok(await exists(paths.get('cache') as string), 'medium Memory is a plain directory')
  await writeFile(join(scratch as string, 'data'), 'kept')
  await manager.setUp(pod)
  t.equal(await readFile(join(scratch as string, 'data'), 'utf8'), 'kept', 'setUp again leaves the contents alone')
})

t.test('hostPath: type checks with the kubelet messages, *OrCreate types create', async (t) => {
  const { manager, root } = worldOf(t)
  const dir = join(root, 'host-dir')
  const file = join(root, 'host-file')
  await mkdir(dir)
  await writeFile(file, 'x')
  const created = join(root, 'made', 'deep')
  const createdFile = join(dir, 'new-file')
  const paths = await manager.setUp(
    podOf([
      { name: 'any', hostPath: { path: join(root, 'missing-but-untyped'), type: '' } },
      { name: 'd', hostPath: { path: dir, type: 'Directory' } },
      { name: 'f', hostPath: { path: file, type: 'File' } },
      { name: 'dc', hostPath: { path: created, type: 'DirectoryOrCreate' } },
      { name: 'fc', hostPath: { path: createdFile, type: 'FileOrCreate' } },
    ]),
  )
  t.same(Object.fromEntries(paths), { any: join(root, 'missing-but-untyped'), d: dir, f: file, dc: created, fc: createdFile }, 'the host path itself is mounted')
  t.ok((await stat(created)).isDirectory(), 'DirectoryOrCreate made the directory and its parents')
  t.ok((await stat(createdFile)).isFile(), 'FileOrCreate made an empty file')
  t.equal((await stat(createdFile)).size, 0)

  // Unix socket paths are limited to 108 bytes; the test directory's path can be longer.
  const socketDir = await mkdtemp(join(tmpdir(), 'flotilla-sock-'))
  t.teardown(() => rm(socketDir, { recursive: true, force: true }))
  const socketPath = join(socketDir, 'sock')
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(socketPath, resolve))
  t.teardown(() => void server.close())
  await manager.setUp(podOf([{ name: 's', hostPath: { path: socketPath, type: 'Socket' } }]))
  await manager.setUp(podOf([{ name: 'c', hostPath: { path: '/dev/null', type: 'CharDevice' } }]))

  const failures: [JsonObject, string][] = [
    [{ path: file, type: 'Directory' }, `hostPath type check failed: ${file} is not a directory`],
    [{ path: join(root, 'nope'), type: 'Directory' }, `hostPath type check failed: ${join(root, 'nope')} is not a directory`],
    [{ path: dir, type: 'File' }, `hostPath type check failed: ${dir} is not a file`],
    [{ path: file, type: 'DirectoryOrCreate' }, `hostPath type check failed: ${file} is not a directory`],
    [{ path: dir, type: 'FileOrCreate' }, `hostPath type check failed: ${dir} is not a file`],
    [{ path: file, type: 'Socket' }, `hostPath type check failed: ${file} is not a socket file`],
    [{ path: file, type: 'CharDevice' }, `hostPath type check failed: ${file} is not a character device`],
    [{ path: '/dev/null', type: 'BlockDevice' }, 'hostPath type check failed: /dev/null is not a block device'],
    [{ path: dir, type: 'Weird' }, 'Weird is an invalid volume type'],
  ]
  for (const [hostPath, message] of failures) {
    await t.rejects(manager.setUp(podOf([{ name: 'vol', hostPath }])), setupError(`MountVolume.SetUp failed for volume "vol" : ${message}`), `${String(hostPath['type'])} on ${String(hostPath['path'])}`)
  }
  await t.rejects(manager.setUp(podOf([{ name: 'vol', hostPath: { path: join(root, 'no-parent', 'f'), type: 'FileOrCreate' } }])), setupError(/no such file or directory/), 'FileOrCreate does not create parents')
})

t.test('configMap: every key as a file through ..data, binaryData too, default mode 0644', async (t) => {
  const { manager, configMaps } = worldOf(t)
  configMaps.set('ns/cfg', { data: { 'game.properties': 'lives=3\n', 'ui.properties': 'color=red\n' }, binaryData: { 'logo.bin': Buffer.from([0, 1, 2, 255]).toString('base64') } })
  const paths = await manager.setUp(podOf([{ name: 'config', configMap: { name: 'cfg' } }]))
  const dir = paths.get('config') as string
  t.match(dir, /kubernetes\.io~configmap\/config$/)
  const entries = (await readdir(dir)).sort()
  t.same(entries.filter((name) => !name.startsWith('..')), ['game.properties', 'logo.bin', 'ui.properties'])
  t.equal(entries.filter((name) => name.startsWith('..') && name !== '..data').length, 1, 'exactly one version directory')
  t.equal(await readlink(join(dir, 'game.properties')), join('..data', 'game.properties'), 'user-visible names link through ..data')
  t.equal(await readFile(join(dir, 'game.properties'), 'utf8'), 'lives=3\n')
  t.same([...(await readFile(join(dir, 'logo.bin')))], [0, 1, 2, 255])
  t.equal(await modeOf(join(dir, 'ui.properties')), 0o644)
})

t.test('configMap and secret items: key → path, item mode over defaultMode, optional', async (t) => {
  const { manager, configMaps, secrets } = worldOf(t)
  configMaps.set('ns/cfg', { data: { a: 'A', b: 'B', c: 'C' } })
  secrets.set('ns/creds', { data: { user: base64('admin'), password: base64('pw') }, stringData: { ignored: 'never' } })
  const paths = await manager.setUp(
    podOf([
      { name: 'cfg', configMap: { name: 'cfg', defaultMode: 0o440, items: [{ key: 'a', path: 'nested/dir/a.txt' }, { key: 'b', path: 'b.txt', mode: 0o600 }] } },
      { name: 'creds', secret: { secretName: 'creds', defaultMode: 0o400 } },
      { name: 'opt', configMap: { name: 'absent', optional: true } },
      { name: 'opt-items', secret: { secretName: 'creds', optional: true, items: [{ key: 'user', path: 'u' }, { key: 'gone', path: 'g' }] } },
    ]),
  )
  const cfg = paths.get('cfg') as string
  t.same((await readdir(cfg)).filter((name) => !name.startsWith('..')).sort(), ['b.txt', 'nested'], 'only the listed keys')
  t.equal(await readFile(join(cfg, 'nested/dir/a.txt'), 'utf8'), 'A')
  t.equal(await modeOf(join(cfg, 'nested/dir/a.txt')), 0o440, 'defaultMode')
  t.equal(await modeOf(join(cfg, 'b.txt')), 0o600, 'item mode wins')
  t.equal(await modeOf(join(cfg, 'nested')), 0o755, 'directories stay traversable')
  const creds = paths.get('creds') as string
  t.same((await readdir(creds)).filter((name) => !name.startsWith('..')).sort(), ['password', 'user'], 'stringData is not projected')
  t.equal(await readFile(join(creds, 'password'), 'utf8'), 'pw', 'secret data is decoded')
  t.equal(await modeOf(join(creds, 'user')), 0o400)
  t.match(creds, /kubernetes\.io~secret\/creds$/)
  t.same((await readdir(paths.get('opt') as string)).filter((name) => !name.startsWith('..')), [], 'a missing optional config map is an empty volume')
  t.same((await readdir(paths.get('opt-items') as string)).filter((name) => !name.startsWith('..')), ['u'], 'missing keys of an optional source are skipped')
})

t.test('configMap and secret: missing sources and keys fail with the kubelet messages', async (t) => {
  const { manager, configMaps, secrets } = worldOf(t)
  configMaps.set('ns/cfg', { data: { a: 'A' } })
  secrets.set('ns/s', { data: { a: base64('A') } })
  const cases: [JsonObject, string][] = [
    [{ configMap: { name: 'absent' } }, 'configmap "absent" not found'],
    [{ secret: { secretName: 'absent' } }, 'secret "absent" not found'],
    [{ configMap: { name: 'cfg', items: [{ key: 'zz', path: 'z' }] } }, 'configmap references non-existent config key: zz'],
    [{ secret: { secretName: 's', items: [{ key: 'zz', path: 'z' }] } }, 'references non-existent secret key: zz'],
  ]
  for (const [source, message] of cases) {
    await t.rejects(manager.setUp(podOf([{ name: 'vol', ...source }])), setupError(`MountVolume.SetUp failed for volume "vol" : ${message}`), message)
  }
})

t.test('configMap refresh: changed data rewrites atomically, removed keys disappear, unchanged data writes nothing', async (t) => {
  const { manager, configMaps } = worldOf(t)
  configMaps.set('ns/cfg', { data: { a: '1', b: '1' } })
  const pod = podOf([{ name: 'config', configMap: { name: 'cfg' } }])
  const dir = (await manager.setUp(pod)).get('config') as string
  const firstVersion = await readlink(join(dir, '..data'))
  await manager.setUp(pod)
  t.equal(await readlink(join(dir, '..data')), firstVersion, 'an unchanged payload keeps its version directory')

  configMaps.set('ns/cfg', { data: { a: '2', c: '2' } })
  await manager.setUp(pod)
  const secondVersion = await readlink(join(dir, '..data'))
  t.not(secondVersion, firstVersion)
  t.equal(await readFile(join(dir, 'a'), 'utf8'), '2')
  t.equal(await readFile(join(dir, 'c'), 'utf8'), '2')
  t.notOk(await exists(join(dir, 'b')), 'a key that left the map leaves the volume')
  t.notOk(await exists(join(dir, firstVersion)), 'the old version is removed')
  t.same((await readdir(dir)).sort(), ['..data', secondVersion, 'a', 'c'].sort())

  // A mode change alone is a change too.
  const modePod = podOf([{ name: 'config', configMap: { name: 'cfg', defaultMode: 0o600 } }])
  await manager.setUp(modePod)
  t.equal(await modeOf(join(dir, 'a')), 0o600)
})

t.test('downwardAPI: metadata fields and container resources as files, refreshed with the labels', async (t) => {
  const { manager } = worldOf(t)
  const containers = [{ name: 'app', resources: { limits: { memory: '64Mi' }, requests: { cpu: '100m' } } }]
  const volume: JsonObject = {
    name: 'podinfo',
    downwardAPI: {
      defaultMode: 0o644,
      items: [
        { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
        { path: 'annotations', fieldRef: { fieldPath: 'metadata.annotations' } },
        { path: 'name', fieldRef: { fieldPath: 'metadata.name' }, mode: 0o400 },
        { path: 'app', fieldRef: { fieldPath: "metadata.labels['app']" } },
        { path: 'mem_mi', resourceFieldRef: { containerName: 'app', resource: 'limits.memory', divisor: '1Mi' } },
        { path: 'cpu_m', resourceFieldRef: { containerName: 'app', resource: 'requests.cpu', divisor: '1m' } },
      ],
    },
  }
  const pod = podOf([volume], containers)
  const dir = (await manager.setUp(pod)).get('podinfo') as string
  t.match(dir, /kubernetes\.io~downward-api\/podinfo$/)
  const read = (name: string): Promise<string> => readFile(join(dir, name), 'utf8')
  t.equal(await read('labels'), 'app="web"')
  t.equal(await read('annotations'), 'owner="ops"')
  t.equal(await read('name'), 'web-0')
  t.equal(await modeOf(join(dir, 'name')), 0o400)
  t.equal(await read('app'), 'web')
  t.equal(await read('mem_mi'), '64')
  t.equal(await read('cpu_m'), '100')

  const relabelled = podOf([volume], containers)
  ;(relabelled['metadata'] as JsonObject)['labels'] = { app: 'web', version: 'v2' }
  await manager.setUp(relabelled)
  t.equal(await read('labels'), 'app="web"\nversion="v2"', 'setUp again follows the new labels')

  const statusField = podOf([{ name: 'bad', downwardAPI: { items: [{ path: 'ip', fieldRef: { fieldPath: 'status.podIP' } }] } }])
  await t.rejects(manager.setUp(statusField), setupError('MountVolume.SetUp failed for volume "bad" : unsupported fieldPath: status.podIP'))
})

t.test('projected: config map, secret and downward API sources merged into one directory', async (t) => {
  const { manager, configMaps, secrets } = worldOf(t)
  configMaps.set('ns/cfg', { data: { 'app.conf': 'x=1' } })
  secrets.set('ns/tls', { data: { 'tls.key': base64('KEY') } })
  const pod = podOf([
    {
      name: 'all',
      projected: {
        defaultMode: 0o440,
        sources: [{ configMap: { name: 'cfg' } }, { secret: { name: 'tls', items: [{ key: 'tls.key', path: 'certs/tls.key', mode: 0o400 }] } }, { downwardAPI: { items: [{ path: 'name', fieldRef: { fieldPath: 'metadata.name' } }] } }],
      },
    },
  ])
  const dir = (await manager.setUp(pod)).get('all') as string
  t.match(dir, /kubernetes\.io~projected\/all$/)
  t.equal(await readFile(join(dir, 'app.conf'), 'utf8'), 'x=1')
  t.equal(await readFile(join(dir, 'certs/tls.key'), 'utf8'), 'KEY')
  t.equal(await readFile(join(dir, 'name'), 'utf8'), 'web-0')
  t.equal(await modeOf(join(dir, 'app.conf')), 0o440, "the projected volume's defaultMode")
  t.equal(await modeOf(join(dir, 'certs/tls.key')), 0o400)
  const token = podOf([{ name: 'tok', projected: { sources: [{ serviceAccountToken: { path: 'token' } }] } }])
  await t.rejects(manager.setUp(token), setupError(/serviceAccountToken is not supported/))
})

t.test('persistentVolumeClaim: the provisioner path, created when missing; unbound claims fail', async (t) => {
  const asked: string[] = []
  const { manager, root } = worldOf(t, {
    persistentVolumePath(pod, claimName) {
      asked.push(`${String((pod['metadata'] as JsonObject)['name'])}/${claimName}`)
      return claimName === 'bound' || claimName === 'web-0-eph' ? join(root, 'pv', claimName) : undefined
    },
  })
  const paths = await manager.setUp(podOf([{ name: 'data', persistentVolumeClaim: { claimName: 'bound' } }, { name: 'eph', ephemeral: { volumeClaimTemplate: { spec: {} } } }]))
  t.equal(paths.get('data'), join(root, 'pv', 'bound'))
  t.ok((await stat(join(root, 'pv', 'bound'))).isDirectory())
  t.equal(paths.get('eph'), join(root, 'pv', 'web-0-eph'), 'a generic ephemeral volume uses the <pod>-<volume> claim')
  t.same(asked, ['web-0/bound', 'web-0/web-0-eph'])
  await t.rejects(manager.setUp(podOf([{ name: 'data', persistentVolumeClaim: { claimName: 'pending' } }])), setupError('persistentvolumeclaim "pending" not bound'))
  const noProvisioner = worldOf(t).manager
  await t.rejects(noProvisioner.setUp(podOf([{ name: 'data', persistentVolumeClaim: { claimName: 'x' } }])), setupError('persistentvolumeclaim "x" not bound'))
})

t.test('setUp: unsupported volume sources fail, and the other volumes are still set up', async (t) => {
  const { manager, root } = worldOf(t)
  const pod = podOf([{ name: 'remote', nfs: { server: 'x', path: '/' } }, { name: 'scratch', emptyDir: {} }])
  await t.rejects(manager.setUp(pod), setupError('MountVolume.SetUp failed for volume "remote" : volume source nfs is not supported on this node'))
  t.ok(await exists(join(root, 'agent', 'pods', UID, 'volumes', 'kubernetes.io~empty-dir', 'scratch')))
  t.ok(new VolumeSetupError('x') instanceof Error)
})

t.test('mountsFor: volumeMounts in order, readOnly rules, subPath created and resolved', async (t) => {
  const { manager, configMaps, root } = worldOf(t)
  configMaps.set('ns/cfg', { data: { 'nginx.conf': 'worker_processes 1;' } })
  await mkdir(join(root, 'host'))
  const container: JsonObject = {
    name: 'app',
    volumeMounts: [
      { name: 'scratch', mountPath: '/scratch' },
      { name: 'scratch', mountPath: '/logs', subPath: 'logs/app' },
      { name: 'config', mountPath: '/etc/nginx/nginx.conf', subPath: 'nginx.conf' },
      { name: 'config', mountPath: '/etc/config', readOnly: false },
      { name: 'host', mountPath: '/host', readOnly: true },
      { name: 'host', mountPath: '/host-rw' },
      { name: 'claim', mountPath: '/data' },
    ],
  }
  const pod = podOf(
    [
      { name: 'scratch', emptyDir: {} },
      { name: 'config', configMap: { name: 'cfg' } },
      { name: 'host', hostPath: { path: join(root, 'host') } },
      { name: 'claim', persistentVolumeClaim: { claimName: 'c', readOnly: true } },
    ],
    [container],
  )
  const withClaims = new VolumeManager({ rootDir: join(root, 'agent'), sources: { configMap: (ns, name) => configMaps.get(`${ns}/${name}`), secret: () => undefined }, persistentVolumePath: () => join(root, 'pv') })
  const paths = await withClaims.setUp(pod)
  const mounts = withClaims.mountsFor(pod, container, paths)
  const scratch = paths.get('scratch') as string
  const config = paths.get('config') as string
  const version = await readlink(join(config, '..data'))
  t.same(mounts, [
    { hostPath: scratch, containerPath: '/scratch', readOnly: false },
    { hostPath: join(scratch, 'logs', 'app'), containerPath: '/logs', readOnly: false },
    { hostPath: join(config, version, 'nginx.conf'), containerPath: '/etc/nginx/nginx.conf', readOnly: true },
    { hostPath: config, containerPath: '/etc/config', readOnly: true },
    { hostPath: join(root, 'host'), containerPath: '/host', readOnly: true },
    { hostPath: join(root, 'host'), containerPath: '/host-rw', readOnly: false },
    { hostPath: join(root, 'pv'), containerPath: '/data', readOnly: true },
  ])
  t.equal(await modeOf(join(scratch, 'logs', 'app')), 0o777, 'a created subPath takes the volume root mode')
  t.equal(manager.mountsFor(pod, { name: 'bare' }, paths).length, 0)
})

t.test('mountsFor: unknown volumes and bad subPaths are VolumeSetupErrors', async (t) => {
  const { manager, root } = worldOf(t)
  const pod = podOf([{ name: 'scratch', emptyDir: {} }])
  const paths = await manager.setUp(pod)
  const scratch = paths.get('scratch') as string
  await mkdir(join(root, 'outside'))
  await symlink(join(root, 'outside'), join(scratch, 'escape'))
  const mountWith = (volumeMount: JsonObject): (() => unknown) => () => manager.mountsFor(pod, { name: 'app', volumeMounts: [volumeMount] }, paths)
  t.throws(mountWith({ name: 'nope', mountPath: '/x' }), setupError('cannot find volume "nope" to mount into container "app"'))
  t.throws(mountWith({ name: 'scratch', mountPath: '/x', subPath: '/etc' }), setupError('error SubPath `/etc` must not be an absolute path'))
  t.throws(mountWith({ name: 'scratch', mountPath: '/x', subPath: 'a/../../b' }), setupError(/must not contain '\.\.'/))
  t.throws(mountWith({ name: 'scratch', mountPath: '/x', subPath: 'escape' }), setupError(/not within volume path/), 'a symlink out of the volume')
  t.throws(mountWith({ name: 'scratch', mountPath: '/x', subPath: 'escape/deeper' }), setupError(/not within volume path/), 'no directory is created through it either')
  t.notOk(await exists(join(root, 'outside', 'deeper')))
  t.throws(() => manager.mountsFor(pod, { name: 'app', volumeMounts: [{ name: 'scratch', mountPath: '/x' }] }, new Map()), setupError(/cannot find volume "scratch"/), 'a volume that was not set up')
})

t.test('tearDown removes the pod directory but not hostPath or claim data; podsOnDisk lists pods', async (t) => {
  const { manager, root } = worldOf(t)
  t.same(await manager.podsOnDisk(), [], 'nothing before the first pod')
  await mkdir(join(root, 'host'))
  await writeFile(join(root, 'host', 'keep'), 'x')
  const other = '3f1c2a9e-0000-4000-8000-000000000002'
  const pod = podOf([
    { name: 'scratch', emptyDir: {} },
    { name: 'host', hostPath: { path: join(root, 'host') } },
  ])
  const paths = await manager.setUp(pod)
  // A container may leave a symlink to the node's files in an emptyDir; removal must not follow it.
  await symlink(join(root, 'host'), join(paths.get('scratch') as string, 'link-to-host'))
  await manager.setUp(podOf([{ name: 'scratch', emptyDir: {} }], [], other))
  t.same((await manager.podsOnDisk()).sort(), [UID, other].sort())
  await manager.tearDown(UID)
  t.notOk(await exists(join(root, 'agent', 'pods', UID)))
  t.equal(await readFile(join(root, 'host', 'keep'), 'utf8'), 'x', 'hostPath contents stay')
  t.same(await manager.podsOnDisk(), [other])
  await manager.tearDown(UID)
  t.pass('tearDown is idempotent')
  t.throws(() => manager.tearDown('../x'), { name: 'TypeError' }, 'a uid that would leave the pods directory is refused')
})

t.test('setUp and tearDown of one pod run one after another', async (t) => {
  const { manager, root } = worldOf(t)
  const pod = podOf([{ name: 'scratch', emptyDir: {} }])
  const setUp = manager.setUp(pod)
  const tearDown = manager.tearDown(UID)
  await setUp
  await tearDown
  t.notOk(await exists(join(root, 'agent', 'pods', UID)), 'the tearDown queued behind the setUp ran last')
})
