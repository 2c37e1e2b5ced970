/**
 * The two images every Flotilla node can run without a registry, built on the node from the
 * host's statically linked busybox (Debian's busybox-static):
 *
 * - `flotilla/busybox:local`: busybox with a link per applet in /bin (sh, httpd, nc, sleep, echo,
 *   cat, wget, ls, mkdir, …); default command `sh`.
 * - `flotilla/pause:local`: the same files, ENTRYPOINT `sleep` with CMD `infinity` (busybox's sleep
 *   accepts it): the process that holds a pod sandbox's namespaces.
 *
 * The build context is a tar archive made in memory (docker/ustar.ts): no temporary files and no
 * dependency on a tar package. Building is idempotent and safe when several daemons on one engine
 * do it at once: an image that exists is left alone, and a failed build counts as success when the
 * image exists afterwards (another builder won).
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

import type Docker from 'dockerode'

import { dockerCall, dockerMessage, dockerStatusCode } from './docker/errors.ts'
import { ustarArchive, type TarEntry } from './docker/ustar.ts'
import { RuntimeError } from './runtime.ts'

export const BUSYBOX_IMAGE = 'flotilla/busybox:local'
export const PAUSE_IMAGE = 'flotilla/pause:local'
/** Label on every image built here, so tools can tell them from pulled ones. */
export const LOCAL_IMAGE_LABEL = 'dev.flotilla.image'
/** Where Debian's busybox-static installs the binary. */
export const HOST_BUSYBOX_PATH = '/bin/busybox'

export interface LocalImageOptions {
  /** The static busybox binary to copy into the images. */
  readonly busyboxPath?: string
  /** Tags to build (tests use their own so they can remove them). */
  readonly busyboxTag?: string
  readonly pauseTag?: string
}

export interface LocalImagesResult {
  /** The tags this call built; empty when both were present. */
  readonly built: readonly string[]
}

/** The busybox binary is not usable for a FROM-scratch image. */
export class BusyboxUnavailableError extends RuntimeError {
  override name = 'BusyboxUnavailableError'
}

/** Builds whichever of the two images is missing. */
export async function ensureLocalImages(docker: Docker, options: LocalImageOptions = {}): Promise<LocalImagesResult> {
  const busyboxTag = options.busyboxTag ?? BUSYBOX_IMAGE
  const pauseTag = options.pauseTag ?? PAUSE_IMAGE
  const wanted = [
    { tag: busyboxTag, dockerfile: busyboxDockerfile() },
    { tag: pauseTag, dockerfile: pauseDockerfile() },
  ]
  const missing: typeof wanted = []
  for (const image of wanted) if (!(await imageExists(docker, image.tag))) missing.push(image)
  if (missing.length === 0) return { built: [] }

  const rootfs = busyboxRootfs(options.busyboxPath ?? HOST_BUSYBOX_PATH)
  const built: string[] = []
  for (const image of missing) {
    try {
      const context = ustarArchive([{ kind: 'file', path: 'Dockerfile', content: Buffer.from(image.dockerfile) }, ...rootfs])
      if (await buildImage(docker, image.tag, context)) built.push(image.tag)
    } catch (error) {
      // Another daemon may have built the same tag meanwhile; only a still-missing image is a failure.
      if (!(await imageExists(docker, image.tag))) throw error
    }
  }
  return { built }
}

export async function imageExists(docker: Docker, tag: string): Promise<boolean> {
  return (await imageId(docker, tag)) !== undefined
}

/** The image's id (`sha256:…`), or undefined when no image has that name. */
async function imageId(docker: Docker, name: string): Promise<string | undefined> {
  try {
    return (await docker.getImage(name).inspect()).Id
  } catch (error) {
    if (dockerStatusCode(error) === 404) return undefined
    return dockerCall(`inspect image ${name}`, () => Promise.reject(error))
  }
}

function busyboxDockerfile(): string {
  return ['FROM scratch', 'COPY rootfs/ /', 'ENV PATH=/bin', `LABEL ${LOCAL_IMAGE_LABEL}=local`, 'CMD ["sh"]', ''].join('\n')
}

function pauseDockerfile(): string {
  return ['FROM scratch', 'COPY rootfs/ /', 'ENV PATH=/bin', `LABEL ${LOCAL_IMAGE_LABEL}=local`, 'ENTRYPOINT ["/bin/sleep"]', 'CMD ["infinity"]', ''].join('\n')
}

/** rootfs/bin/busybox, a symbolic link per applet, and an empty /tmp. */
export function busyboxRootfs(busyboxPath: string): TarEntry[] {
  const binary = readStaticBinary(busyboxPath)
  const applets = execFileSync(busyboxPath, ['--list'], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.trim())
    .filter((applet) => applet !== '' && applet !== 'busybox' && /^[A-Za-z0-9_.[\]-]+$/.test(applet))
  return [
    { kind: 'directory', path: 'rootfs' },
    { kind: 'directory', path: 'rootfs/bin' },
    { kind: 'directory', path: 'rootfs/tmp', mode: 0o1777 },
    { kind: 'file', path: 'rootfs/bin/busybox', content: binary, mode: 0o755 },
    ...applets.map((applet): TarEntry => ({ kind: 'symlink', path: `rootfs/bin/${applet}`, target: 'busybox' })),
  ]
}

/** PT_INTERP: a program header that names a dynamic loader, which a scratch image lacks. */
const PT_INTERP = 3

/**
 * The binary's bytes, after checking it is a 64-bit little-endian ELF executable without a dynamic
 * loader: Debian's non-static busybox package installs the same path and would build an image
 * whose every command fails with "no such file or directory".
 */
function readStaticBinary(path: string): Buffer {
  let binary: Buffer
  try {
    binary = readFileSync(path)
  } catch (error) {
    throw new BusyboxUnavailableError(`Cannot build local images: ${path} is not readable (install busybox-static)`, { cause: error })
  }
  const isElf64Le = binary.length > 64 && binary.readUInt32BE(0) === 0x7f454c46 && binary[4] === 2 && binary[5] === 1
  if (!isElf64Le) throw new BusyboxUnavailableError(`Cannot build local images: ${path} is not a 64-bit ELF executable`)
  const programHeadersOffset = Number(binary.readBigUInt64LE(32))
  const programHeaderBytes = binary.readUInt16LE(54)
  const programHeaderCount = binary.readUInt16LE(56)
  for (let index = 0; index < programHeaderCount; index++) {
    const offset = programHeadersOffset + index * programHeaderBytes
    if (offset + 4 > binary.length) break
    if (binary.readUInt32LE(offset) === PT_INTERP) {
      throw new BusyboxUnavailableError(`Cannot build local images: ${path} is dynamically linked (install busybox-static)`)
    }
  }
  return binary
}

/** One line of the build's progress stream. */
interface BuildMessage {
  readonly error?: string
  readonly errorDetail?: { readonly message?: string }
  readonly aux?: { readonly ID?: string }
}

/**
 * Builds the context untagged, then tags the result unless another builder tagged one meanwhile
 * (then ours is removed and the result is false). Checking right before tagging shrinks the window
 * in which two racing daemons both tag, leaving one copy untagged, from a whole build to a few
 * milliseconds; that rare leftover costs 2 MB of disk, never a failure.
 */
async function buildImage(docker: Docker, tag: string, context: Buffer): Promise<boolean> {
  const stream = await dockerCall(`build image ${tag}`, () => docker.buildImage(context as unknown as NodeJS.ReadableStream, { rm: true, forcerm: true }))
  const messages = await new Promise<readonly BuildMessage[]>((resolve, reject) => {
    docker.modem.followProgress(stream, (error: unknown, output: BuildMessage[]) => (error === null || error === undefined ? resolve(output) : reject(error)))
  }).catch((error: unknown) => {
    throw new RuntimeError(`Cannot build image ${tag}: ${dockerMessage(error)}`, { cause: error })
  })
  const failure = messages.find((message) => message.error !== undefined || message.errorDetail !== undefined)
  if (failure !== undefined) throw new RuntimeError(`Cannot build image ${tag}: ${failure.error ?? failure.errorDetail?.message ?? 'unknown error'}`)
  const builtId = messages.find((message) => message.aux?.ID !== undefined)?.aux?.ID
  if (builtId === undefined) throw new RuntimeError(`Cannot build image ${tag}: the engine reported no image id`)
  const taggedId = await imageId(docker, tag)
  if (taggedId !== undefined) {
    // The build cache can hand back the very image the tag names: never remove that one.
    if (taggedId !== builtId) {
      await docker.getImage(builtId).remove().catch(() => {
        // Best effort: an untagged copy left behind costs disk space, not correctness.
      })
    }
    return false
  }
  const colon = tag.lastIndexOf(':')
  const repo = colon > tag.lastIndexOf('/') ? tag.slice(0, colon) : tag
  const version = colon > tag.lastIndexOf('/') ? tag.slice(colon + 1) : 'latest'
  await dockerCall(`tag image ${tag}`, () => docker.getImage(builtId).tag({ repo, tag: version }))
  return true
}
