/**
 * PodStreams: what the API's streaming subresources (`pods/{name}/log`, `exec`, `attach`,
 * `portforward`) need from whatever runs the pod. The API layer resolves the pod, checks the
 * request (container name, options) and speaks the wire protocols (chunked HTTP, SPDY/3.1,
 * WebSocket channels); a PodStreams provider only produces the streams. The node agent provides
 * one over its container runtime (node/src/agent/local-pod-streams.ts); the daemon picks a
 * provider per pod, which is how a request reaching one node is served for a pod on another.
 */
import type { Duplex, Readable } from 'node:stream'
import type { ExecOptions, ExecSession, LogOptions } from '../../../../runtime/src/runtime.ts'
import type { JsonObject } from '../machinery/canonical.ts'

/** LogOptions plus `previous`: the logs of the container's previous instance (the last restart). */
export interface PodLogOptions extends LogOptions {
  readonly previous?: boolean
}

/**
 * The streams of the pods of one node. `pod` is the stored Pod object and `container` a name
 * the API layer has already checked against the pod's spec (containers, initContainers,
 * ephemeralContainers).
 *
 * Methods throw ApiError (node/src/api/machinery/status.ts) 400 for a container that is waiting
 * / has no previous instance, 404 for an unknown pod on this node; the API layer sends those
 * Statuses as they are (for logs as the HTTP answer, for exec and attach on the error stream,
 * for port-forward as the connection's error message). Other errors of exec and attach reach
 * clients by message only when they are FlotillaErrors or the runtime's named errors; a
 * port-forward shows the dial error's message (`connect ECONNREFUSED …`), as the kubelet does.
 */
export interface PodStreams {
  /**
   * The container's output, as `kubectl logs` prints it, honouring every option (follow keeps
   * the stream open until the container exits or the caller destroys the stream).
   */
  logs(pod: JsonObject, container: string, options: PodLogOptions): Promise<Readable>
  /** Starts a process in the running container. Rejections reach the client on the error stream. */
  exec(pod: JsonObject, container: string, options: ExecOptions): Promise<ExecSession>
  /** Attaches to the container's main process. Rejections reach the client on the error stream. */
  attach(pod: JsonObject, container: string, options: { stdin: boolean; tty: boolean }): Promise<ExecSession>
  /** A connection to `port` in the pod's network namespace; the API layer destroys it when done. */
  portForward(pod: JsonObject, port: number): Promise<Duplex>
}
