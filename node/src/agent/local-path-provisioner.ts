/**
 * The node's local-path provisioner: PersistentVolumes that are directories on the node that runs
 * the first pod of their claim, as k3s's Rancher local-path-provisioner makes them, but without a
 * central provisioner: in a cluster with no master, the node that needs the volume makes it.
 *
 * Contract with the node agent:
 * - `ensureClaims(pod)` before the pod's volumes are set up, for a pod bound to this node. For
 *   each claim the pod mounts: a bound claim whose volume this node can reach is remembered; an
 *   unbound claim of a class whose provisioner is `flotilla.dev/local-path` is provisioned here
 *   (see below); an unbound claim of any other class is left for someone else (its pod waits with
 *   "not bound"). Rejects with the first problem (ClaimNotFoundError, VolumeNodeConflictError,
 *   ClaimUnusableError — all VolumeSetupErrors) after trying every claim.
 * - `pathOf(pod, claimName)`: the host directory of the claim's volume as the last
 *   `ensureClaims` found it, undefined when it found none (VolumeManager's `persistentVolumePath`).
 * - `reclaimReleased()`, periodically: volumes provisioned on this node whose claim is gone and
 *   that no unfinished pod here still mounts. Reclaim policy Delete removes the directory and
 *   then the PersistentVolume; Retain marks the volume Released and keeps both. Failures are
 *   logged and retried on the next call.
 *
 * Provisioning a claim (namespace `ns`, name `claim`, uid `U`):
 * 1. `mkdir <rootDir>/pvc-U_ns_claim` (mode 0777, so any container user may write);
 * 2. create PersistentVolume `pvc-U`: the claim's request as capacity, its access modes, the
 *    class's reclaim policy, a hostPath to the directory, node affinity `kubernetes.io/hostname
 *    In [this node]`, and a claimRef to the claim. The name is derived from the claim's uid, so
 *    two nodes provisioning one claim at once race on this create and exactly one wins; the loser
 *    removes its (empty) directory and uses the winner's volume;
 * 3. bind: one write of the claim with `spec.volumeName`, phase Bound, capacity and access modes,
 *    on the resourceVersion it was read at. Losing that race means someone else bound it: the
 *    claim is read again and whatever it is bound to is used;
 * 4. mark the volume Bound.
 * A crash between the steps leaves nothing stuck: a volume whose claim is still unbound is
 * adopted by the next `ensureClaims` on any node (step 2 finds it), and one whose claim is gone
 * is reclaimed by its node.
 */
import { mkdir, chmod, rm, rmdir } from 'node:fs/promises'
import { join, sep } from 'node:path'
import { assert } from '../../../lib/assert.ts'
import { isJsonObject, type JsonObject, type JsonValue } from '../api/machinery/canonical.ts'
import { ApiError } from '../api/machinery/status.ts'
import { LOCAL_PATH_PROVISIONER, STORAGE_CLASSES } from '../api/server/default-storage-class.ts'
import type { ObjectClient } from '../controllers/manager/object-client.ts'
import { PERSISTENT_VOLUMES } from '../controllers/manager/shared-informers.ts'
import { PODS } from '../controllers/plan.ts'
import { PERSISTENT_VOLUME_CLAIMS } from '../controllers/statefulset.ts'
import { VolumeSetupError } from './volumes/volume-errors.ts'

/** The annotation naming the provisioner of a dynamically provisioned volume. */
export const PROVISIONED_BY_ANNOTATION = 'pv.kubernetes.io/provisioned-by'
/** The node label local volumes are pinned by. */
const HOSTNAME_LABEL = 'kubernetes.io/hostname'
/** Any user in the container may write a provisioned volume, as local-path-provisioner makes it. */
const VOLUME_DIRECTORY_MODE = 0o777
/** Rounds of "bind, lose the race, read again" before giving up until the next call. */
const BIND_ATTEMPTS_MAX = 4

/** The pod mounts a claim that does not exist. */
export class ClaimNotFoundError extends VolumeSetupError {
  override name = 'ClaimNotFoundError'
}

/** The claim is bound to a volume that lives on another node. */
export class VolumeNodeConflictError extends VolumeSetupError {
  override name = 'VolumeNodeConflictError'
}

/** The claim exists but cannot be used here: being deleted, bound to a missing or unsupported volume, or asking for what local paths cannot give. */
export class ClaimUnusableError extends VolumeSetupError {
  override name = 'ClaimUnusableError'
}

export interface LocalPathProvisionerOptions {
  readonly client: ObjectClient
  /** This node's name (also its `kubernetes.io/hostname` label). */
  readonly nodeName: string
  /** Where volume directories go: `<rootDir>/pvc-<uid>_<namespace>_<claim>`. */
  readonly rootDir: string
  readonly log: (line: string) => void
}

export class LocalPathProvisioner {
  private readonly options: LocalPathProvisionerOptions
  /** `namespace/claim` → host directory of its volume, as the last ensureClaims found it. */
  private readonly paths = new Map<string, string>()
  /** `namespace/claim` → the resolution under way, shared by pods that mount the same claim. */
  private readonly inFlight = new Map<string, Promise<void>>()

  constructor(options: LocalPathProvisionerOptions) {
    this.options = options
  }

  /**
   * Makes every claim of `pod` (bound to this node) usable here where this node can: provisions
   * and binds unbound local-path claims, and remembers the directories for `pathOf`.
   * @throws ClaimNotFoundError, VolumeNodeConflictError, ClaimUnusableError (the first one met)
   */
  async ensureClaims(pod: JsonObject): Promise<void> {
    const spec = objectOf(pod['spec'])
    assert(spec['nodeName'] === this.options.nodeName, `ensureClaims for a pod bound to ${String(spec['nodeName'])}, not to this node ${this.options.nodeName}`)
    const namespace = namespaceOf(pod)
    let firstError: unknown
    for (const claimName of claimNamesOf(pod)) {
      try {
        await this.ensureClaim(namespace, claimName)
      } catch (error) {
        firstError ??= error
      }
    }
    if (firstError !== undefined) throw firstError
  }

  /** The host directory of the claim's volume, or undefined while there is none on this node. */
  pathOf(pod: JsonObject, claimName: string): string | undefined {
    return this.paths.get(`${namespaceOf(pod)}/${claimName}`)
  }

  /**
   * Reclaims the volumes provisioned on this node whose claim is gone (deleted, or replaced by a
   * claim of the same name with another uid): Delete removes the directory, then the volume;
   * Retain (or Recycle, which is not supported) marks it Released. A volume is left alone while a
   * pod on this node that has not finished still mounts a claim of that name: nothing protects
   * claims in use from deletion yet (kube's pvc-protection finalizer), so this is what keeps a
   * running pod's data. Failures of one volume are logged and it is tried again next time; only a
   * failed list of the volumes rejects.
   */
  async reclaimReleased(): Promise<void> {
    const { client, log } = this.options
    const { items } = await client.objects.list(PERSISTENT_VOLUMES, undefined)
    for (const volume of items) {
      if (!this.isProvisionedHere(volume)) continue
      const name = nameOf(volume)
      try {
        if (!(await this.isReleased(volume)) || (await this.isMountedHere(volume))) continue
        if (stringOf(objectOf(volume['spec'])['persistentVolumeReclaimPolicy']) === 'Delete') await this.deleteVolume(volume)
        else await this.markReleased(volume)
      } catch (error) {
        log(`local-path: reclaiming persistentvolume ${name} failed: ${(error as Error).message}`)
      }
    }
  }

  private ensureClaim(namespace: string, claimName: string): Promise<void> {
    const key = `${namespace}/${claimName}`
    const running = this.inFlight.get(key)
    if (running !== undefined) return running
    const operation = this.resolveClaim(namespace, claimName).finally(() => this.inFlight.delete(key))
    this.inFlight.set(key, operation)
    return operation
  }

  /** Remembers the claim's directory, or forgets it when there is none (or no longer one) here. */
  private async resolveClaim(namespace: string, claimName: string): Promise<void> {
    const key = `${namespace}/${claimName}`
    try {
      const path = await this.claimPath(namespace, claimName)
      if (path === undefined) this.paths.delete(key)
      else this.paths.set(key, path)
    } catch (error) {
      this.paths.delete(key)
      throw error
    }
  }

  /** The directory of the claim's volume, provisioning and binding it first when it is ours to make. */
  private async claimPath(namespace: string, claimName: string): Promise<string | undefined> {
    let claim = await this.readClaim(namespace, claimName)
    for (let attempt = 1; ; attempt++) {
      if (isBeingDeleted(claim)) throw new ClaimUnusableError(`persistentvolumeclaim "${claimName}" is being deleted`)
      const volumeName = stringOf(objectOf(claim['spec'])['volumeName'])
      if (volumeName !== '') return this.boundPath(claimName, volumeName)
      const storageClass = await this.localPathClassOf(claim)
      if (storageClass === undefined) return undefined
      const volume = await this.provisionedVolume(claim, storageClass)
      try {
        claim = await this.bind(claim, volume)
        await this.markBound(volume, claim)
      } catch (error) {
        if (!(error instanceof ApiError && error.code === 409) || attempt >= BIND_ATTEMPTS_MAX) throw error
        // Someone else changed the claim first (another node bound it, or a label changed): look again.
        claim = await this.readClaim(namespace, claimName)
      }
    }
  }

  private async readClaim(namespace: string, claimName: string): Promise<JsonObject> {
    try {
      return await this.options.client.get(PERSISTENT_VOLUME_CLAIMS, namespace, claimName)
    } catch (error) {
      if (error instanceof ApiError && error.code === 404) throw new ClaimNotFoundError(`persistentvolumeclaim "${claimName}" not found`, { cause: error })
      throw error
    }
  }

  /** The directory of a bound claim's volume, when this node can reach it. */
  private async boundPath(claimName: string, volumeName: string): Promise<string> {
    let volume: JsonObject
    try {
      volume = await this.options.client.get(PERSISTENT_VOLUMES, undefined, volumeName)
    } catch (error) {
      if (error instanceof ApiError && error.code === 404) throw new ClaimUnusableError(`persistentvolumeclaim "${claimName}" is bound to persistentvolume "${volumeName}", which does not exist`, { cause: error })
      throw error
    }
    const node = pinnedNodeOf(volume)
    if (node !== undefined && node !== this.options.nodeName) {
      throw new VolumeNodeConflictError(`persistentvolumeclaim "${claimName}" is bound to persistentvolume "${volumeName}" on node "${node}", not on this node "${this.options.nodeName}"`)
    }
    const spec = objectOf(volume['spec'])
    const path = stringOf(objectOf(spec['hostPath'])['path']) || stringOf(objectOf(spec['local'])['path'])
    if (path === '') throw new ClaimUnusableError(`persistentvolume "${volumeName}" of persistentvolumeclaim "${claimName}" is neither a hostPath nor a local volume, the only kinds this node can mount`)
    return path
  }

  /** The claim's class when this provisioner serves it; undefined for other classes and for no class. */
  private async localPathClassOf(claim: JsonObject): Promise<JsonObject | undefined> {
    const spec = objectOf(claim['spec'])
    const className = stringOf(spec['storageClassName'])
    if (className === '') return undefined
    let storageClass: JsonObject
    try {
      storageClass = await this.options.client.get(STORAGE_CLASSES, undefined, className)
    } catch (error) {
      if (error instanceof ApiError && error.code === 404) return undefined
      throw error
    }
    if (storageClass['provisioner'] !== LOCAL_PATH_PROVISIONER) return undefined
    // local-path-provisioner's own refusals: a directory is neither a block device nor selectable.
    if (spec['volumeMode'] === 'Block') throw new ClaimUnusableError(`persistentvolumeclaim "${nameOf(claim)}": volumeMode Block is not supported by ${LOCAL_PATH_PROVISIONER}`)
    if (isJsonObject(spec['selector'])) throw new ClaimUnusableError(`persistentvolumeclaim "${nameOf(claim)}": a selector is not supported by ${LOCAL_PATH_PROVISIONER}`)
    return storageClass
  }

  /** Creates the claim's volume here, or returns the one that already exists (made by any node). */
  private async provisionedVolume(claim: JsonObject, storageClass: JsonObject): Promise<JsonObject> {
    const { client, rootDir, nodeName } = this.options
    const uid = uidOf(claim)
    const namespace = namespaceOf(claim)
    const volumeName = `pvc-${uid}`
    const path = join(rootDir, `${volumeName}_${namespace}_${nameOf(claim)}`)
    await mkdir(rootDir, { recursive: true })
    const created = await mkdir(path).then(
      () => true,
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'EEXIST') return false
        throw error
      },
    )
    // mkdir honours the umask; the mode must be exact.
    await chmod(path, VOLUME_DIRECTORY_MODE)
    const spec = objectOf(claim['spec'])
    const volume: JsonObject = {
      apiVersion: PERSISTENT_VOLUMES.apiVersion,
      kind: PERSISTENT_VOLUMES.kind,
      metadata: { name: volumeName, annotations: { [PROVISIONED_BY_ANNOTATION]: LOCAL_PATH_PROVISIONER } },
      spec: {
        capacity: { storage: objectOf(objectOf(spec['resources'])['requests'])['storage'] ?? null },
        accessModes: spec['accessModes'] ?? null,
        persistentVolumeReclaimPolicy: stringOf(storageClass['reclaimPolicy']) || 'Delete',
        storageClassName: nameOf(storageClass),
        volumeMode: 'Filesystem',
        hostPath: { path, type: 'DirectoryOrCreate' },
        nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: HOSTNAME_LABEL, operator: 'In', values: [nodeName] }] }] } },
        claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace, name: nameOf(claim), uid, resourceVersion: resourceVersionOf(claim) },
      },
    }
    try {
      const stored = await client.create(PERSISTENT_VOLUMES, undefined, volume)
      this.options.log(`local-path: provisioned persistentvolume ${volumeName} at ${path} for persistentvolumeclaim ${namespace}/${nameOf(claim)}`)
      return stored
    } catch (error) {
      if (!(error instanceof ApiError && error.code === 409)) throw error
    }
    // It exists: made by an earlier attempt here (same directory), or by another node that won,
    // whose directory is over there: the empty one made here for nothing goes.
    const existing = await client.get(PERSISTENT_VOLUMES, undefined, volumeName)
    if (created && pinnedNodeOf(existing) !== nodeName) await rmdir(path).catch(() => undefined)
    return existing
  }

  /**
   * Binds the claim to the volume: spec.volumeName and the Bound status in one write, on the
   * resourceVersion the claim was read at.
   *
   * Written through the store rather than `client.update`, like a pod's binding: the claim's
   * update validation (claimErrors) forbids every spec change, while Kubernetes lets the binder
   * set `volumeName` once on an unbound claim.
   * @throws ApiError 409 when the claim changed since it was read.
   */
  private bind(claim: JsonObject, volume: JsonObject): Promise<JsonObject> {
    const volumeSpec = objectOf(volume['spec'])
    const resourceVersion = resourceVersionOf(claim)
    return this.options.client.objects.guaranteedUpdate(
      PERSISTENT_VOLUME_CLAIMS,
      namespaceOf(claim),
      nameOf(claim),
      (current) => {
        const metadata = objectOf(current['metadata'])
        return {
          ...current,
          metadata: { ...metadata, annotations: { ...objectOf(metadata['annotations']), 'pv.kubernetes.io/bind-completed': 'yes', 'pv.kubernetes.io/bound-by-controller': 'yes' } },
          spec: { ...objectOf(current['spec']), volumeName: nameOf(volume) },
          status: { ...objectOf(current['status']), phase: 'Bound', accessModes: volumeSpec['accessModes'] ?? null, capacity: volumeSpec['capacity'] ?? null },
        }
      },
      { preconditions: { resourceVersion } },
    )
  }

  /** The volume's phase becomes Bound once its claim is bound to it (idempotent). */
  private async markBound(volume: JsonObject, claim: JsonObject): Promise<void> {
    await this.options.client.objects.guaranteedUpdate(PERSISTENT_VOLUMES, undefined, nameOf(volume), (current) => {
      const status = objectOf(current['status'])
      const claimRef = objectOf(objectOf(current['spec'])['claimRef'])
      if (status['phase'] === 'Bound' || claimRef['uid'] !== uidOf(claim)) return undefined
      return { ...current, status: { ...status, phase: 'Bound' } }
    })
  }

  private isProvisionedHere(volume: JsonObject): boolean {
    const annotations = objectOf(objectOf(volume['metadata'])['annotations'])
    return annotations[PROVISIONED_BY_ANNOTATION] === LOCAL_PATH_PROVISIONER && pinnedNodeOf(volume) === this.options.nodeName
  }

  /** True when the claim the volume was made for is gone; a volume without a claimRef is left alone. */
  private async isReleased(volume: JsonObject): Promise<boolean> {
    const claimRef = objectOf(objectOf(volume['spec'])['claimRef'])
    const claimName = stringOf(claimRef['name'])
    if (claimName === '') return false
    try {
      const claim = await this.options.client.get(PERSISTENT_VOLUME_CLAIMS, stringOf(claimRef['namespace']), claimName)
      return uidOf(claim) !== claimRef['uid']
    } catch (error) {
      if (error instanceof ApiError && error.code === 404) return true
      throw error
    }
  }

  /** True when a pod bound to this node, not finished, mounts a claim of the volume's claimRef name. */
  private async isMountedHere(volume: JsonObject): Promise<boolean> {
    const claimRef = objectOf(objectOf(volume['spec'])['claimRef'])
    const { items } = await this.options.client.objects.list(PODS, stringOf(claimRef['namespace']) || 'default')
    return items.some((pod) => {
      const phase = objectOf(pod['status'])['phase']
      return objectOf(pod['spec'])['nodeName'] === this.options.nodeName && phase !== 'Succeeded' && phase !== 'Failed' && claimNamesOf(pod).includes(stringOf(claimRef['name']))
    })
  }

  private async deleteVolume(volume: JsonObject): Promise<void> {
    const name = nameOf(volume)
    const path = stringOf(objectOf(objectOf(volume['spec'])['hostPath'])['path'])
    // The path comes from an object anyone with API access may edit: never remove outside rootDir.
    const root = this.options.rootDir.endsWith(sep) ? this.options.rootDir : `${this.options.rootDir}${sep}`
    if (!path.startsWith(root) || path.slice(root.length).includes(sep) || !path.slice(root.length).startsWith(`${name}_`)) {
      throw new ClaimUnusableError(`persistentvolume ${name}: path ${path} is not one this provisioner made under ${this.options.rootDir}; not deleting it`)
    }
    await rm(path, { recursive: true, force: true })
    for (const [key, known] of this.paths) if (known === path) this.paths.delete(key)
    try {
      await this.options.client.delete(PERSISTENT_VOLUMES, undefined, name, uidOf(volume))
    } catch (error) {
      if (!(error instanceof ApiError && error.code === 404)) throw error
    }
    this.options.log(`local-path: deleted persistentvolume ${name} and ${path} (its claim is gone)`)
  }

  private async markReleased(volume: JsonObject): Promise<void> {
    if (objectOf(volume['status'])['phase'] === 'Released') return
    await this.options.client.updateStatus(PERSISTENT_VOLUMES, undefined, nameOf(volume), { ...volume, status: { ...objectOf(volume['status']), phase: 'Released' } })
  }
}

/** The node a volume is pinned to by `kubernetes.io/hostname In [node]` as its only requirement; undefined otherwise. */
function pinnedNodeOf(volume: JsonObject): string | undefined {
  const required = objectOf(objectOf(objectOf(volume['spec'])['nodeAffinity'])['required'])
  const terms = arrayOf(required['nodeSelectorTerms'])
  if (terms.length !== 1) return undefined
  const term = objectOf(terms[0])
  const expressions = arrayOf(term['matchExpressions'])
  if (expressions.length !== 1 || arrayOf(term['matchFields']).length > 0) return undefined
  const expression = objectOf(expressions[0])
  const values = arrayOf(expression['values'])
  if (expression['key'] !== HOSTNAME_LABEL || expression['operator'] !== 'In' || values.length !== 1) return undefined
  return typeof values[0] === 'string' ? values[0] : undefined
}

/** The claims a pod mounts: persistentVolumeClaim volumes and generic ephemeral ones (`<pod>-<volume>`). */
function claimNamesOf(pod: JsonObject): string[] {
  const names: string[] = []
  for (const volume of arrayOf(objectOf(pod['spec'])['volumes']).map(objectOf)) {
    const claim = volume['persistentVolumeClaim']
    const name = isJsonObject(claim) ? stringOf(claim['claimName']) : isJsonObject(volume['ephemeral']) ? `${nameOf(pod)}-${stringOf(volume['name'])}` : ''
    if (name !== '' && !names.includes(name)) names.push(name)
  }
  return names
}

function isBeingDeleted(object: JsonObject): boolean {
  return stringOf(objectOf(object['metadata'])['deletionTimestamp']) !== ''
}

function namespaceOf(object: JsonObject): string {
  return stringOf(objectOf(object['metadata'])['namespace']) || 'default'
}

function nameOf(object: JsonObject): string {
  return stringOf(objectOf(object['metadata'])['name'])
}

function uidOf(object: JsonObject): string {
  return stringOf(objectOf(object['metadata'])['uid'])
}

function resourceVersionOf(object: JsonObject): string {
  return stringOf(objectOf(object['metadata'])['resourceVersion'])
}

function objectOf(value: JsonValue | undefined): JsonObject {
  return isJsonObject(value) ? value : {}
}

function arrayOf(value: JsonValue | undefined): JsonValue[] {
  return Array.isArray(value) ? value : []
}

function stringOf(value: JsonValue | undefined): string {
  return typeof value === 'string' ? value : ''
}
