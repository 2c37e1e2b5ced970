/**
 * Runs one probe of a container: picks the handler the probe declares (exec, httpGet,
 * tcpSocket), resolves named ports against the container's ports, and turns everything that
 * keeps the probe from running (no pod IP yet, unknown port, gRPC) into `unknown`, which the
 * state machine throws away, as the kubelet does with prober errors.
 */
import { isJsonObject, type JsonObject, type JsonValue } from '../../api/machinery/canonical.ts'
import type { ContainerRuntime } from '../../../../runtime/src/runtime.ts'
import { probeExec } from './exec-prober.ts'
import { probeHttp } from './http-prober.ts'
import type { ProbeOutcome } from './probe-state.ts'
import { probeTcp } from './tcp-prober.ts'

export interface ProbeRun {
  readonly runtime: ContainerRuntime
  /** The container's spec (its `ports` name the probe's named ports). */
  readonly container: JsonObject
  readonly containerId: string
  /** The pod's IP, the default host of network probes; undefined before the sandbox has one. */
  readonly podIp: string | undefined
  readonly timeoutMs: number
}

/** Runs the probe once; never rejects. */
export async function runProbe(probe: JsonObject, run: ProbeRun): Promise<ProbeOutcome> {
  const { exec, httpGet, tcpSocket } = probe
  if (isJsonObject(exec)) {
    const command = Array.isArray(exec['command']) ? exec['command'].filter((part): part is string => typeof part === 'string') : []
    return probeExec({ runtime: run.runtime, containerId: run.containerId, command, timeoutMs: run.timeoutMs })
  }
  if (isJsonObject(httpGet)) {
    const port = resolveContainerPort(httpGet['port'], run.container)
    if (typeof port === 'string') return { result: 'unknown', message: port }
    const host = stringOf(httpGet['host']) || run.podIp
    if (host === undefined || host === '') return { result: 'unknown', message: 'pod has no IP address yet' }
    const scheme = httpGet['scheme'] === 'HTTPS' ? 'HTTPS' : 'HTTP'
    const headers = (Array.isArray(httpGet['httpHeaders']) ? httpGet['httpHeaders'].filter(isJsonObject) : []).map((header) => ({ name: stringOf(header['name']), value: stringOf(header['value']) }))
    return probeHttp({ scheme, host, port, path: stringOf(httpGet['path']) || '/', headers, timeoutMs: run.timeoutMs })
  }
  if (isJsonObject(tcpSocket)) {
    const port = resolveContainerPort(tcpSocket['port'], run.container)
    if (typeof port === 'string') return { result: 'unknown', message: port }
    const host = stringOf(tcpSocket['host']) || run.podIp
    if (host === undefined || host === '') return { result: 'unknown', message: 'pod has no IP address yet' }
    return probeTcp({ host, port, timeoutMs: run.timeoutMs })
  }
  if (isJsonObject(probe['grpc'])) return { result: 'unknown', message: 'gRPC probes are not supported on this node' }
  return { result: 'unknown', message: 'missing probe handler' }
}

/**
 * The kubelet's `ResolveContainerPort`: a number, the containerPort of the port with that name,
 * or a number written as a string; resolves to the port, or an error message.
 */
export function resolveContainerPort(port: JsonValue | undefined, container: JsonObject): number | string {
  let resolved: number
  if (typeof port === 'number') {
    resolved = port
  } else if (typeof port === 'string') {
    const named = (Array.isArray(container['ports']) ? container['ports'].filter(isJsonObject) : []).find((candidate) => candidate['name'] === port)
    if (named !== undefined && typeof named['containerPort'] === 'number') resolved = named['containerPort']
    else if (/^[0-9]+$/.test(port)) resolved = Number(port)
    else return `port ${port} not found`
  } else {
    return 'probe has no port'
  }
  return Number.isInteger(resolved) && resolved > 0 && resolved < 65536 ? resolved : `invalid port number: ${resolved}`
}

function stringOf(value: JsonValue | undefined): string {
  return typeof value === 'string' ? value : ''
}
