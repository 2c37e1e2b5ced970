// Goal: the local images are built from the host's static busybox without a registry, only when
// missing, safely when several builders race, and they run; the in-memory tar writer produces
// archives that GNU tar reads back. Method: tar(1) lists our archives; on the engine, images are
// built under test-only tags (removed at the end) by two concurrent calls, then run once.
// Without a reachable engine the engine case skips, or fails when CI=true.
import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'

import Docker from 'dockerode'
import t from 'tap'

import { ustarArchive } from '../../runtime/src/docker/ustar.ts'
import { DOCKER_SOCKET_PATH } from '../../runtime/src/docker-runtime.ts'
import { BusyboxUnavailableError, HOST_BUSYBOX_PATH, LOCAL_IMAGE_LABEL, busyboxRootfs, ensureLocalImages, imageExists } from '../../runtime/src/local-images.ts'

t.test('ustar: files, directories, symlinks and long paths read back with tar(1)', async (t) => {
  const longDirectory = `${'d'.repeat(60)}/${'e'.repeat(60)}`
  const archive = ustarArchive([
    { kind: 'directory', path: 'root' },
    { kind: 'file', path: 'root/hello.txt', content: Buffer.from('hello\n'), mode: 0o600 },
    { kind: 'symlink', path: 'root/link', target: 'hello.txt' },
    { kind: 'file', path: `${longDirectory}/long-name.txt`, content: Buffer.alloc(1000, 0x61) },
  ])
  t.equal(archive.length % 512, 0, 'whole blocks')
  const listing = execFileSync('tar', ['-tvf', '-'], { input: archive, encoding: 'utf8' }).trim().split('\n')
  t.match(listing[0], /^drwxr-xr-x .* root\/$/)
  t.match(listing[1], /^-rw------- .* 6 .* root\/hello\.txt$/)
  t.match(listing[2], /^lrwxrwxrwx .* root\/link -> hello\.txt$/)
  t.match(listing[3], new RegExp(` 1000 .* ${longDirectory}/long-name\\.txt$`), 'a path over 100 bytes uses the prefix field')
  t.equal(execFileSync('tar', ['-xOf', '-', 'root/hello.txt'], { input: archive, encoding: 'utf8' }), 'hello\n', 'contents intact')
})

t.test('busybox rootfs: only a static busybox will do', { skip: existsSync(HOST_BUSYBOX_PATH) ? undefined : `${HOST_BUSYBOX_PATH} is missing (install busybox-static)` }, async (t) => {
  const rootfs = busyboxRootfs(HOST_BUSYBOX_PATH)
  const paths = new Map(rootfs.map((entry) => [entry.path, entry]))
  t.match(paths.get('rootfs/bin/busybox'), { kind: 'file', mode: 0o755 })
  for (const applet of ['sh', 'httpd', 'nc', 'sleep', 'echo', 'cat', 'wget', 'ls', 'mkdir']) {
    t.match(paths.get(`rootfs/bin/${applet}`), { kind: 'symlink', target: 'busybox' }, `${applet} links to busybox`)
  }
  t.match(paths.get('rootfs/tmp'), { kind: 'directory', mode: 0o1777 })
  t.throws(() => busyboxRootfs('/bin/ls'), BusyboxUnavailableError, 'a dynamically linked binary is refused')
  t.throws(() => busyboxRootfs('/etc/hostname'), BusyboxUnavailableError, 'so is a file that is not an executable')
  t.throws(() => busyboxRootfs('/nonexistent/busybox'), BusyboxUnavailableError)
})

const docker = new Docker({ socketPath: DOCKER_SOCKET_PATH })
const unavailable = await docker.ping().then(() => undefined, (error: Error) => `the Docker engine at ${DOCKER_SOCKET_PATH} is unreachable (${error.message})`)

if (unavailable !== undefined && process.env['CI'] === 'true') t.fail(unavailable)

t.test('ensureLocalImages: builds missing images once, even when two builders race', { skip: unavailable }, async (t) => {
  const prefix = `flotilla-test-${randomUUID().slice(0, 8)}`
  const tags = { busyboxTag: `${prefix}/busybox:local`, pauseTag: `${prefix}/pause:local` }
  const containers: Docker.Container[] = []
  t.teardown(async () => {
    for (const container of containers) await container.remove({ force: true }).catch(() => undefined)
    for (const tag of Object.values(tags)) await docker.getImage(tag).remove({ force: true }).catch(() => undefined)
  })
  const [first, second] = await Promise.all([ensureLocalImages(docker, tags), ensureLocalImages(docker, tags)])
  // Which call builds which image depends on timing; together they built both, and neither failed.
  t.same([...new Set([...first.built, ...second.built])].sort(), Object.values(tags).sort(), 'both images built')
  t.ok(await imageExists(docker, tags.busyboxTag))
  t.ok(await imageExists(docker, tags.pauseTag))
  t.same(await ensureLocalImages(docker, tags), { built: [] }, 'nothing to do when both exist')

  const pause = await docker.getImage(tags.pauseTag).inspect()
  t.same(pause.Config.Entrypoint, ['/bin/sleep'])
  t.same(pause.Config.Cmd, ['infinity'])
  t.equal(pause.Config.Labels?.[LOCAL_IMAGE_LABEL], 'local')

  const container = await docker.createContainer({ Image: tags.busyboxTag, Cmd: ['sh', '-c', 'echo $PATH; ls /tmp && sleep 0 && echo ran'], HostConfig: { NetworkMode: 'none' } })
  containers.push(container)
  await container.start()
  const { StatusCode } = (await container.wait()) as { StatusCode: number }
  t.equal(StatusCode, 0, 'busybox runs')
  const logs = (await container.logs({ stdout: true, stderr: true, follow: false })).toString('latin1')
  t.match(logs, /\/bin[\s\S]*ran/, 'with PATH=/bin and its applets')
})
