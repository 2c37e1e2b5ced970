/**
 * The streaming subresources of pods: `log` (plain HTTP) and `exec`, `attach`, `portforward`
 * (connection upgrades to SPDY/3.1 or WebSocket). This module checks a request the way
 * kube-apiserver does before it proxies to the kubelet (the pod exists, the container is
 * defaulted or valid, the pod is on a node, the options parse), picks the PodStreams provider
 * for the pod, answers the upgrade and hands the connection to the protocol modules:
 *
 *   log-stream.ts            GET log
 *   exec-stream.ts           exec and attach (SPDY streams or WebSocket channels)
 *   port-forward-stream.ts   portforward (SPDY stream pairs or WebSocket channels)
 *
 * Refusals before the upgrade are Status objects in an ordinary HTTP response, which kubectl
 * prints as `Error from server (BadRequest): …`. Failures after it (the provider cannot exec)
 * travel on the error stream. A WebSocket offer without a protocol this server speaks is refused
 * with 400, which is what makes kubectl ≥ 1.30 fall back to SPDY (it offers only
 * `SPDY/3.1+portforward.k8s.io` for port-forward).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import { isJsonObject, type JsonObject, type JsonValue } from '../machinery/canonical.ts'
import { ApiError, badRequest, methodNotAllowed, serviceUnavailable, toApiError, type Status } from '../machinery/status.ts'
import type { ObjectStore, ResourceRef } from '../server/object-store.ts'
import { attachOutcome, execOutcome, openSpdyRemoteCommand, runRemoteCommand, webSocketRemoteCommand, EXEC_CHANNEL, type RemoteCommandClient, type RemoteCommandOptions } from './exec-stream.ts'
import { parseLogRequest, queryBoolean, sendLogStream } from './log-stream.ts'
import type { PodStreams } from './pod-streams.ts'
import { parsePort, portForwardChannels, serveSpdyPortForward, serveWebSocketPortForward, type PodIdentity } from './port-forward-stream.ts'
import { CHANNEL_PROTOCOL_V4, CHANNEL_PROTOCOL_V4_BASE64, CHANNEL_PROTOCOL_V5, ChannelWebSocket, acceptWebSocket, isWebSocketRequest, offeredProtocols, selectProtocol } from './websocket-channels.ts'

/** The pod subresources served here. */
export const STREAMING_SUBRESOURCES: ReadonlySet<string> = new Set(['log', 'exec', 'attach', 'portforward'])

/** What the subresources need from the server. */
export interface PodSubresourceContext {
  readonly objects: ObjectStore
  /** The streams of a pod's node; undefined when this server has none (every request is then a 503). */
  readonly podStreamsFor: ((pod: JsonObject) => PodStreams) | undefined
  readonly log: (line: string) => void
  /** Wall-clock milliseconds, for `sinceSeconds`. */
  readonly nowMs: () => number
}

/** A request for one pod's streaming subresource. */
export interface PodSubresourceTarget {
  /** The pods resource. */
  readonly resource: ResourceRef
  readonly namespace: string
  readonly name: string
  /** One of STREAMING_SUBRESOURCES. */
  readonly subresource: string
  readonly url: URL
}

/** The SPDY upgrade token kubectl sends. */
const SPDY_UPGRADE = 'spdy/3.1'
const STREAM_PROTOCOL_HEADER = 'x-stream-protocol-version'
/** remotecommand protocols over SPDY: v4 only (kubectl 1.20 and the 1.30+ fallback both offer it). */
const SPDY_REMOTE_COMMAND_PROTOCOLS = ['v4.channel.k8s.io']
const SPDY_PORT_FORWARD_PROTOCOLS = ['portforward.k8s.io']
const WEBSOCKET_PROTOCOLS = [CHANNEL_PROTOCOL_V5, CHANNEL_PROTOCOL_V4, CHANNEL_PROTOCOL_V4_BASE64]

/**
 * A plain HTTP request: GET log streams the logs; exec, attach and portforward need a connection
 * upgrade, so without one they are a 400, as on kube-apiserver.
 */
export async function servePodSubresource(context: PodSubresourceContext, target: PodSubresourceTarget, request: IncomingMessage, response: ServerResponse): Promise<void> {
  if (target.subresource !== 'log') {
    if (request.method !== 'GET' && request.method !== 'POST') throw methodNotAllowed(target.resource, `${String(request.method)} on subresource ${target.subresource}`)
    throw badRequest('Upgrade request required')
  }
  if (request.method !== 'GET') throw methodNotAllowed(target.resource, `${String(request.method)} on subresource log`)
  const { container, options } = parseLogRequest(target.url, target.name, context.nowMs())
  const pod = await context.objects.get(target.resource, target.namespace, target.name)
  const containerName = resolveContainer(pod, target.name, container)
  // An unscheduled pod has no logs yet; kube-apiserver answers with an empty body.
  if (nodeNameOf(pod) === '') {
    response.writeHead(200, { 'content-type': 'text/plain' })
    response.end()
    return
  }
  const logs = await providerFor(context, pod).logs(pod, containerName, options)
  await sendLogStream(response, logs, options.limitBytes)
}

/**
 * An upgrade request (`Connection: Upgrade`) for exec, attach or portforward. Never rejects:
 * a refusal is written on the socket as an HTTP response with a Status body.
 */
export async function upgradePodSubresource(context: PodSubresourceContext, target: PodSubresourceTarget, request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  socket.on('error', () => socket.destroy())
  const progress = { upgraded: false }
  try {
    if (target.subresource === 'log') throw badRequest('the log subresource is not served over an upgraded connection')
    if (request.method !== 'GET' && request.method !== 'POST') throw methodNotAllowed(target.resource, `${String(request.method)} on subresource ${target.subresource}`)
    // The transport first: a client that cannot be served this way (kubectl ≥ 1.30 asking for
    // SPDY over WebSocket) must hear so, whatever else is wrong, to fall back to SPDY.
    const transport = negotiateTransport(request, target.subresource === 'portforward')
    const session = await prepareSession(context, target, request)
    await startSession(context, session, transport, request, socket, head, progress)
  } catch (error) {
    const apiError = toApiError(error)
    if (!(error instanceof ApiError)) context.log(`${String(request.method)} ${String(request.url)}: ${(error as Error)?.stack ?? String(error)}`)
    // Once the connection speaks another protocol, an HTTP answer would only garble it.
    if (progress.upgraded) return void socket.destroy()
    writeUpgradeRefusal(socket, apiError.toStatus(), error instanceof ProtocolNegotiationError ? error.acceptedHeader : {})
  }
}

/**
 * Answers an upgrade request with an HTTP error response carrying `status` and closes the
 * socket. For the daemon's refusals too (401 before anything is routed).
 */
export function writeUpgradeRefusal(socket: Duplex, status: Status, extraHeaders: Readonly<Record<string, string>> = {}): void {
  if (socket.destroyed || !socket.writable) return
  const body = JSON.stringify(status)
  const headers = [
    `HTTP/1.1 ${status.code} ${STATUS_CODES[status.code] ?? 'Error'}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    ...Object.entries(extraHeaders).map(([name, value]) => `${name}: ${value}`),
  ]
  socket.end(`${headers.join('\r\n')}\r\n\r\n${body}`, () => socket.destroy())
}

// -----------------------------------------------------------------------------------------------
// Checks before the upgrade

/** Everything known about a session before the connection is upgraded. */
type PreparedSession =
  | { readonly kind: 'exec'; readonly pod: JsonObject; readonly streams: PodStreams; readonly container: string; readonly command: readonly string[]; readonly options: RemoteCommandOptions }
  | { readonly kind: 'attach'; readonly pod: JsonObject; readonly streams: PodStreams; readonly container: string; readonly options: RemoteCommandOptions }
  | { readonly kind: 'portforward'; readonly pod: JsonObject; readonly streams: PodStreams; readonly ports: readonly number[] }

async function prepareSession(context: PodSubresourceContext, target: PodSubresourceTarget, request: IncomingMessage): Promise<PreparedSession> {
  const { url, name } = target
  if (target.subresource === 'portforward') {
    const ports = isWebSocketRequest(request) ? parseWebSocketPorts(url) : []
    const pod = await context.objects.get(target.resource, target.namespace, name)
    requireNode(pod, name)
    const phase = phaseOf(pod)
    if (phase !== 'Running') throw badRequest(`unable to forward port because pod is not running. Current status=${phase}`)
    return { kind: 'portforward', pod, streams: providerFor(context, pod), ports }
  }
  const kind = target.subresource === 'exec' ? 'exec' : 'attach'
  const options = remoteCommandOptions(url)
  const command = url.searchParams.getAll('command')
  if (kind === 'exec' && command.length === 0) throw badRequest('you must specify at least one command for the container')
  const pod = await context.objects.get(target.resource, target.namespace, name)
  const container = resolveContainer(pod, name, emptyToUndefined(url.searchParams.get('container')))
  requireNode(pod, name)
  const phase = phaseOf(pod)
  if (phase === 'Succeeded' || phase === 'Failed') throw badRequest(`cannot ${kind === 'exec' ? 'exec into' : 'attach to'} a container in a completed pod; current phase is ${phase}`)
  const streams = providerFor(context, pod)
  return kind === 'exec' ? { kind, pod, streams, container, command, options } : { kind, pod, streams, container, options }
}

/**
 * The streams an exec or attach asks for. Like the kubelet: stderr is dropped with a tty (a
 * terminal merges it into stdout), and at least one stream is required.
 */
function remoteCommandOptions(url: URL): RemoteCommandOptions {
  const tty = queryBoolean(url, 'tty')
  const options = { stdin: queryBoolean(url, 'stdin'), stdout: queryBoolean(url, 'stdout'), stderr: queryBoolean(url, 'stderr') && !tty, tty }
  if (!options.stdin && !options.stdout && !options.stderr) throw badRequest('you must specify at least 1 of stdin, stdout, stderr')
  return options
}

/** `ports` (client-node) or `port` (the kubelet's name), repeated or comma-separated. */
function parseWebSocketPorts(url: URL): number[] {
  const values = [...url.searchParams.getAll('ports'), ...url.searchParams.getAll('port')]
  if (values.length === 0) throw badRequest('query parameter "ports" is required')
  return values.flatMap((value) => value.split(',')).map((text) => {
    const port = parsePort(text)
    if (typeof port === 'string') throw badRequest(port)
    return port
  })
}

function emptyToUndefined(value: string | null): string | undefined {
  return value === null || value === '' ? undefined : value
}

function objectAt(value: JsonValue | undefined): JsonObject {
  return isJsonObject(value) ? value : {}
}

function containerNames(pod: JsonObject, field: string): string[] {
  const list = objectAt(pod['spec'])[field]
  if (!Array.isArray(list)) return []
  return list.map((container) => objectAt(container)['name']).filter((name): name is string => typeof name === 'string')
}

/**
 * The container a request is about, as kube-apiserver decides it: the only container when none
 * is named; a named one must be a container, init container or ephemeral container of the pod.
 * @throws ApiError 400 naming the choices when the choice is ambiguous or the name unknown.
 */
export function resolveContainer(pod: JsonObject, podName: string, requested: string | undefined): string {
  const containers = containerNames(pod, 'containers')
  if (requested === undefined) {
    if (containers.length === 1) return containers[0]!
    if (containers.length === 0) throw badRequest(`a container name must be specified for pod ${podName}`)
    const initContainers = containerNames(pod, 'initContainers')
    const choices = `a container name must be specified for pod ${podName}, choose one of: [${containers.join(' ')}]`
    throw badRequest(initContainers.length === 0 ? choices : `${choices} or one of the init containers: [${initContainers.join(' ')}]`)
  }
  const known = [...containers, ...containerNames(pod, 'initContainers'), ...containerNames(pod, 'ephemeralContainers')]
  if (!known.includes(requested)) throw badRequest(`container ${requested} is not valid for pod ${podName}`)
  return requested
}

function nodeNameOf(pod: JsonObject): string {
  const nodeName = objectAt(pod['spec'])['nodeName']
  return typeof nodeName === 'string' ? nodeName : ''
}

function requireNode(pod: JsonObject, podName: string): void {
  if (nodeNameOf(pod) === '') throw badRequest(`pod ${podName} does not have a host assigned`)
}

function phaseOf(pod: JsonObject): string {
  const phase = objectAt(pod['status'])['phase']
  return typeof phase === 'string' ? phase : 'Pending'
}

function providerFor(context: PodSubresourceContext, pod: JsonObject): PodStreams {
  if (context.podStreamsFor === undefined) throw serviceUnavailable('this server does not serve pod logs, exec, attach or port-forward')
  return context.podStreamsFor(pod)
}

function identityOf(pod: JsonObject): PodIdentity {
  const metadata = objectAt(pod['metadata'])
  const text = (value: JsonValue | undefined): string => (typeof value === 'string' ? value : '')
  return { name: text(metadata['name']), namespace: text(metadata['namespace']), uid: text(metadata['uid']) }
}

// -----------------------------------------------------------------------------------------------
// The upgrade

/** No protocol both sides speak; carries the header that lists ours. */
class ProtocolNegotiationError extends ApiError {
  override name = 'ProtocolNegotiationError'
  readonly acceptedHeader: Readonly<Record<string, string>>
  constructor(message: string, accepted: readonly string[]) {
    super({ code: 403, reason: 'Forbidden', message })
    this.acceptedHeader = { 'X-Accepted-Stream-Protocol-Versions': accepted.join(', ') }
  }
}

/** The transport a client asked for and the protocol both sides speak on it. */
type Transport = { readonly kind: 'spdy'; readonly protocol: string } | { readonly kind: 'websocket'; readonly protocol: string }

/**
 * The transport of an upgrade request: SPDY/3.1 with the first `X-Stream-Protocol-Version` the
 * server speaks (kubectl offers its versions in preference order), or WebSocket with the first
 * offered subprotocol the server speaks.
 * @throws ApiError 400 for another upgrade or no usable offer; 403 (listing ours) when no SPDY version is shared.
 */
function negotiateTransport(request: IncomingMessage, portForward: boolean): Transport {
  const upgrade = (request.headers.upgrade ?? '').toLowerCase()
  if (upgrade === 'websocket') {
    const offered = offeredProtocols(request)
    const protocol = selectProtocol(offered, WEBSOCKET_PROTOCOLS)
    if (protocol === undefined) {
      // kubectl ≥ 1.30 offers only this for port-forward and falls back to SPDY on any refusal.
      const tunnelled = offered.some((candidate) => candidate.startsWith('SPDY/3.1+'))
      throw badRequest(`unable to upgrade: ${tunnelled ? 'SPDY over WebSocket is not supported; use SPDY/3.1' : `no supported WebSocket protocol offered (supported: ${WEBSOCKET_PROTOCOLS.join(', ')})`}`)
    }
    return { kind: 'websocket', protocol }
  }
  if (upgrade !== SPDY_UPGRADE) throw badRequest(`unsupported upgrade ${JSON.stringify(request.headers.upgrade ?? '')}: use SPDY/3.1 or websocket`)
  const supported = portForward ? SPDY_PORT_FORWARD_PROTOCOLS : SPDY_REMOTE_COMMAND_PROTOCOLS
  const offered = headerValues(request, STREAM_PROTOCOL_HEADER)
  if (offered.length === 0) throw badRequest('unable to upgrade: X-Stream-Protocol-Version is required')
  const protocol = selectProtocol(offered, supported)
  if (protocol === undefined) {
    throw new ProtocolNegotiationError(`unable to upgrade: unable to negotiate protocol: client supports [${offered.join(' ')}], server accepts [${supported.join(' ')}]`, supported)
  }
  return { kind: 'spdy', protocol }
}

async function startSession(
  context: PodSubresourceContext,
  session: PreparedSession,
  transport: Transport,
  request: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  progress: { upgraded: boolean },
): Promise<void> {
  progress.upgraded = true
  if (transport.kind === 'websocket') return startWebSocketSession(context, session, transport.protocol, request, socket, head)
  socket.write(['HTTP/1.1 101 Switching Protocols', 'Connection: Upgrade', 'Upgrade: SPDY/3.1', `X-Stream-Protocol-Version: ${transport.protocol}`, '', ''].join('\r\n'))
  if (session.kind === 'portforward') {
    serveSpdyPortForward(socket, head, identityOf(session.pod), (port) => session.streams.portForward(session.pod, port), context.log)
    return
  }
  const client = await openSpdyRemoteCommand(socket, head, session.options, context.log)
  if (client !== undefined) await runSession(context, session, client)
}

async function startWebSocketSession(context: PodSubresourceContext, session: PreparedSession, protocol: string, request: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  const webSocket = await acceptWebSocket(request, socket, head, protocol)
  if (session.kind === 'portforward') {
    const readable = session.ports.map((_port, index) => portForwardChannels(index).data)
    const channels = new ChannelWebSocket(webSocket, protocol, readable)
    await serveWebSocketPortForward(channels, session.ports, identityOf(session.pod), (port) => session.streams.portForward(session.pod, port))
    return
  }
  const channels = new ChannelWebSocket(webSocket, protocol, [EXEC_CHANNEL.stdin, EXEC_CHANNEL.resize])
  await runSession(context, session, webSocketRemoteCommand(channels, session.options))
}

function runSession(context: PodSubresourceContext, session: Extract<PreparedSession, { kind: 'exec' | 'attach' }>, client: RemoteCommandClient): Promise<void> {
  if (session.kind === 'exec') {
    const execOptions = { command: session.command, stdin: session.options.stdin, tty: session.options.tty }
    return runRemoteCommand(client, () => session.streams.exec(session.pod, session.container, execOptions), (exitCode) => execOutcome(session.command, exitCode), context.log)
  }
  const attachOptions = { stdin: session.options.stdin, tty: session.options.tty }
  return runRemoteCommand(client, () => session.streams.attach(session.pod, session.container, attachOptions), () => attachOutcome(), context.log)
}

/** Every value of a request header that may be repeated or comma-separated. */
function headerValues(request: IncomingMessage, name: string): string[] {
  const values: string[] = []
  for (let index = 0; index < request.rawHeaders.length; index += 2) {
    if (request.rawHeaders[index]!.toLowerCase() === name) values.push(...request.rawHeaders[index + 1]!.split(','))
  }
  return values.map((value) => value.trim()).filter((value) => value !== '')
}
