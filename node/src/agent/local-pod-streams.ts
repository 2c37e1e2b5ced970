/**
 * PodStreams over this node's container runtime: what the API's `pods/{name}/log`, `exec`,
 * `attach` and `portforward` reach for pods that run here (the kubelet's streaming server).
 *
 * Which container instance a request means follows the kubelet (`validateContainerLogStatus`):
 * logs come from the newest instance that started — the running one, or the last exited one of
 * a crash-looping or finished container; `previous` means the instance the pod status shows as
 * `lastState.terminated` (the one before the current, or the one whose restart is backing off).
 * A container with no instance yet is "waiting to start" with the reason its status shows. Exec
 * and attach need a running instance; port-forward needs the pod's ready sandbox.
 *
 * Errors are ApiErrors with Kubernetes' messages: 404 for a pod not on this node, 400 for a
 * container that is waiting or has no previous instance.
 */
import type { Duplex, Readable } from 'node:stream'
import type { ContainerRuntime, ContainerStatus, ExecOptions, ExecSession } from '../../../runtime/src/runtime.ts'
import { NotFoundError, NotRunningError } from '../../../runtime/src/runtime.ts'
import type { JsonObject } from '../api/machinery/canonical.ts'
import { badRequest, notFound } from '../api/machinery/status.ts'
import type { PodLogOptions, PodStreams } from '../api/streaming/pod-streams.ts'
import { listAt, nameOf, objectAt, specOf, statusOf, stringAt, uidOf } from '../controllers/object-fields.ts'
import { currentSandbox } from './pod-actions.ts'

export interface LocalPodStreamsOptions {
  readonly runtime: ContainerRuntime
  /** This node: pods bound elsewhere are not found here. */
  readonly nodeName: string
}

const PODS_RESOURCE = { group: '', resource: 'pods' }

export class LocalPodStreams implements PodStreams {
  private readonly runtime: ContainerRuntime
  private readonly nodeName: string

  constructor(options: LocalPodStreamsOptions) {
    this.runtime = options.runtime
    this.nodeName = options.nodeName
  }

  async logs(pod: JsonObject, container: string, options: PodLogOptions): Promise<Readable> {
    const instance = await this.logInstance(pod, container, options.previous === true)
    const { previous: _previous, ...logOptions } = options
    try {
      return await this.runtime.logs(instance.id, logOptions)
    } catch (error) {
      if (error instanceof NotFoundError) throw badRequest(`unable to retrieve container logs for ${this.runtime.name}://${instance.id}`)
      throw error
    }
  }

  async exec(pod: JsonObject, container: string, options: ExecOptions): Promise<ExecSession> {
    const instance = await this.runningInstance(pod, container)
    try {
      return await this.runtime.exec(instance.id, options)
    } catch (error) {
      throw notRunningAsApiError(error, container)
    }
  }

  async attach(pod: JsonObject, container: string, options: { stdin: boolean; tty: boolean }): Promise<ExecSession> {
    const instance = await this.runningInstance(pod, container)
    try {
      return await this.runtime.attach(instance.id, options)
    } catch (error) {
      throw notRunningAsApiError(error, container)
    }
  }

  async portForward(pod: JsonObject, port: number): Promise<Duplex> {
    this.requireLocal(pod)
    const sandboxes = (await this.runtime.listSandboxes()).filter((sandbox) => sandbox.pod.uid === uidOf(pod))
    const sandbox = currentSandbox({ sandboxes, containers: [] })
    if (sandbox === undefined || sandbox.state !== 'ready') {
      throw badRequest(`unable to forward port because pod is not running. Current status=${stringAt(statusOf(pod)['phase'], 'Pending')}`)
    }
    try {
      return await this.runtime.portForward(sandbox.id, port)
    } catch (error) {
      if (error instanceof NotFoundError) throw badRequest(`unable to forward port because pod is not running. Current status=${stringAt(statusOf(pod)['phase'], 'Pending')}`)
      throw error
    }
  }

  private requireLocal(pod: JsonObject): void {
    if (stringAt(specOf(pod)['nodeName']) !== this.nodeName) throw notFound(PODS_RESOURCE, nameOf(pod))
  }

  /** Every started instance of the container, newest first (created-but-never-started ones skipped). */
  private async instancesOf(pod: JsonObject, container: string): Promise<ContainerStatus[]> {
    this.requireLocal(pod)
    const containers = await this.runtime.listContainers({ podUid: uidOf(pod) })
    return containers
      .filter((instance) => instance.name === container && instance.state !== 'created')
      .sort((a, b) => b.attempt - a.attempt || b.createdAtMs - a.createdAtMs)
  }

  private async logInstance(pod: JsonObject, container: string, previous: boolean): Promise<ContainerStatus> {
    const instances = await this.instancesOf(pod, container)
    const status = containerStatusOf(pod, container)
    if (previous) {
      // The pod status names the previous instance; the runtime decides when the status is
      // behind (a restart it has not reported yet, whose predecessor may already be collected):
      // then the previous instance is the newest one that exited — the one before a running
      // instance, or the one whose restart is backing off.
      const named = idOf(objectAt(objectAt(status?.['lastState'])['terminated'])['containerID'])
      const byStatus = instances.find((instance) => instance.id === named)
      if (byStatus !== undefined) return byStatus
      const earlier = instances.find((instance) => instance.state === 'exited')
      if (earlier !== undefined) return earlier
      throw badRequest(`previous terminated container "${container}" in pod "${nameOf(pod)}" not found`)
    }
    const newest = instances[0]
    if (newest !== undefined) return newest
    const waiting = objectAt(objectAt(status?.['state'])['waiting'])
    const reason = stringAt(waiting['reason'], 'ContainerCreating')
    throw badRequest(`container "${container}" in pod "${nameOf(pod)}" is waiting to start: ${reason}`)
  }

  private async runningInstance(pod: JsonObject, container: string): Promise<ContainerStatus> {
    const running = (await this.instancesOf(pod, container)).find((instance) => instance.state === 'running')
    if (running === undefined) throw badRequest(`container not found ("${container}")`)
    return running
  }
}

/** The pod status entry of a container (app or init). */
function containerStatusOf(pod: JsonObject, container: string): JsonObject | undefined {
  const status = statusOf(pod)
  return [...listAt(status['containerStatuses']), ...listAt(status['initContainerStatuses'])].map(objectAt).find((entry) => entry['name'] === container)
}

/** `docker://abc` → `abc`. */
function idOf(containerId: JsonObject[string] | undefined): string {
  const text = stringAt(containerId)
  const separator = text.indexOf('://')
  return separator < 0 ? text : text.slice(separator + 3)
}

function notRunningAsApiError(error: unknown, container: string): unknown {
  if (error instanceof NotRunningError || error instanceof NotFoundError) return badRequest(`container not found ("${container}")`)
  return error
}
