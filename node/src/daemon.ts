/**
 * The Flotilla daemon: one per machine, all identical. It composes the libp2p host (admission by
 * join secret), the Raft transport over libp2p, the Raft node with the revisioned store as its
 * state machine, gossip liveness, the join protocol, the leader-only membership controller and
 * compaction, the Kubernetes API, this node's Node object and node agent (the hollow agent until
 * the Docker agent exists), the controller manager that runs the controllers and the scheduler
 * while this node leads, and the local HTTP API the CLI talks to.
 *
 * This file is a composition root: it picks the real implementations; everything it wires is
 * tested on its own with simulated ones.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { networkInterfaces } from 'node:os'
import { join } from 'node:path'
import type { Duplex } from 'node:stream'
import { Packr } from 'msgpackr'
import { ClockOs } from '../../lib/clock.ts'
import { FlotillaError, InvalidConfigError, NotLeaderError, TimeoutError } from '../../lib/errors.ts'
import { waitFor } from '../../lib/poll.ts'
import { randomFromEntropy } from '../../lib/random.ts'
import { GossipLibp2p } from '../../network/src/libp2p/gossip-libp2p.ts'
import { EndpointGossipService } from '../../network/src/endpoint-gossip/endpoint-gossip-service.ts'
import { Libp2pHost } from '../../network/src/libp2p/host-libp2p.ts'
import { loadOrCreatePeerKey } from '../../network/src/libp2p/identity.ts'
import { TransportLibp2p } from '../../network/src/libp2p/transport-libp2p.ts'
import { requestJoin, serveJoin, type JoinRequest } from './cluster/join-protocol.ts'
import { encodeJoinToken } from './cluster/join-token.ts'
import { LivenessTable } from './cluster/liveness.ts'
import { planMembership, type MemberRecord } from './cluster/membership-plan.ts'
import { peerKeyPath, raftDirectory, readNodeConfig, type NodeConfig } from './cluster/node-config.ts'
import { decodeMember, dialableAddresses, encodeMember, JoinRefusedError, MEMBERS_PREFIX, memberKey, nameKey } from './cluster/registry.ts'
import { createCertificateAuthority, issueServingCertificate, type KeyAndCertificate } from './api/auth/tls.ts'
import { bearerTokenOf, newBearerToken, tokenKey } from './api/auth/tokens.ts'
import { serviceUnavailable, unauthorized } from './api/machinery/status.ts'
import { ApiHandler } from './api/server/api-handler.ts'
import { writeUpgradeRefusal } from './api/streaming/pod-subresources.ts'
import { ObjectStore, type ObjectBackend } from './api/server/object-store.ts'
import { HollowAgent } from './agent/hollow-agent.ts'
import { HOLLOW_RUNTIME_VERSION } from './agent/hollow-pod-status.ts'
import { localNodeFacts, registerNode } from './agent/node-registration.ts'
import { NodeAgent } from './agent/node-agent.ts'
import { machineNodeFacts } from './agent/node-status.ts'
import { podStreamTarget, proxyRequest, proxyUpgrade, type ProxyTarget } from './api/server/pod-stream-proxy.ts'
import Docker from 'dockerode'
import { DOCKER_SOCKET_PATH, RuntimeDocker } from '../../runtime/src/docker-runtime.ts'
import { MetricsApi } from './api/server/metrics-api.ts'
import { NodeMetricsReader } from './api/server/node-metrics-store.ts'
import { StoredPodMetrics } from './controllers/stored-pod-metrics.ts'
import { ensureLocalImages } from '../../runtime/src/local-images.ts'
import { ControllerManager, NODE_NOT_READY_GRACE_MS_DEFAULT, POD_EVICTION_TIMEOUT_MS_DEFAULT } from './controllers/manager/controller-manager.ts'
import { EventRecorder } from './controllers/manager/event-recorder.ts'
import { Informer } from './controllers/manager/informer.ts'
import { ObjectClient } from './controllers/manager/object-client.ts'
import { TimersOs } from '../../lib/timers.ts'
import { formatTime } from './controllers/object-fields.ts'
import { PODS } from './controllers/plan.ts'
import { NODES } from './controllers/manager/shared-informers.ts'
import { PodNetwork } from '../../network/src/pod-network/pod-network.ts'
import { parseResolvConf, podResolverConfig } from '../../network/src/dns/resolv-conf.ts'
import { NodeNetworkServices } from './agent/node-network-services.ts'
import { VipAnnouncer } from '../../network/src/load-balancer/vip-announcer.ts'
import { SERVICES } from './controllers/endpoints.ts'
import { ENDPOINT_SLICES } from './controllers/endpoint-slices.ts'
import { NodeFence } from './agent/node-fence.ts'
import { FenceHeartbeat } from './agent/fence-keeper.ts'
import type { SandboxConfig } from '../../runtime/src/runtime.ts'
import type { JsonObject } from './api/machinery/canonical.ts'
import type { OverlayBackend } from '../../network/src/pod-network/overlay.ts'
import { RaftNode } from './raft-node.ts'
import { encodeCommand, type StoreCommand, type StoreResult } from './store/commands.ts'
import { RevisionedStore } from './store/revisioned-store.ts'

const LIVENESS_TOPIC = 'flotilla/liveness/v1'
const LEAVING_PREFIX = '/registry/flotilla/leaving/'
/** The cluster CA (certificate and key), replicated so every node can issue its serving cert. */
const CA_KEY = '/registry/flotilla/ca'
/** Paths the Kubernetes API serves without a token, as a real API server does for anonymous users. */
const ANONYMOUS_PATHS = new Set(['/healthz', '/readyz', '/livez', '/version'])
/** libp2p peer ids of removed members: refused by the connection gater. */
const DENIED_PREFIX = '/registry/flotilla/denied/'
/** Gossip liveness beacons; the alive window below allows for two lost ones and scheduling delay. */
const HEARTBEAT_INTERVAL_MS = 1000
/** How often the gossip watchdog looks for connected but silent members (repairSilentConnections). */
const GOSSIP_WATCHDOG_INTERVAL_MS = 2000
/** Silence on an open connection after which it is replaced: several missed beacons. */
const GOSSIP_STALL_MS = 5000
/** At most one reconnect per peer in this interval. */
const GOSSIP_REPAIR_INTERVAL_MS = 20_000
/** A node silent on gossip for this long is considered down (the lifecycle controller's grace). */
const ALIVE_WINDOW_MS = 5000
const CONTROLLER_INTERVAL_MS = 1000
const JOIN_TIMEOUT_MS = 5000
/** Delay between attempts to register the Node object or start the agent while there is no leader. */
const AGENT_RETRY_MS = 500
const packr = new Packr({ useRecords: false })

export interface DaemonOptions {
  readonly dataDirectory: string
  /** Founding member of a new cluster: bootstrap a one-voter Raft group. */
  readonly founding?: boolean
  /** Members to contact first (from a join token): join through them when not yet a member. */
  readonly bootstrap?: readonly string[]
  readonly mdns?: boolean
  readonly log?: (line: string) => void
  /** Timers, for tests that want faster failure detection. */
  readonly tickMs?: number
  readonly heartbeatTicks?: number
  readonly electionTicks?: number
  readonly deadVoterReplaceMs?: number
  readonly deadMemberRemovalMs?: number
  /**
   * The node agent's backend: `docker` (the default) runs pods on the local Docker engine;
   * `hollow` (for simulated clusters of many nodes) plays their lifecycle (Pending → Running,
   * IPs, statuses) without running anything; `none` runs no agent, so pods bound here stay Pending.
   */
  readonly runtime?: DaemonRuntime
  /** The agent's first CrashLoopBackOff delay (default 10 s, as Kubernetes). */
  readonly crashBackoffInitialMs?: number
  /** Between the agent's metrics samples (default 15 s). */
  readonly metricsPeriodMs?: number
  /** Gossip silence after which the leader marks a node NotReady (default 5000). */
  readonly nodeNotReadyGraceMs?: number
  /** How long pods stay on an unreachable node before they are evicted (default 5000). */
  readonly podEvictionTimeoutMs?: number
  /**
   * Run the workloads side (default true): the Node object, the node agent and the controller
   * manager. Off, the daemon serves the API and nothing acts on the objects: for tests of the API
   * alone, which must see no writes but their own.
   */
  readonly controllers?: boolean
  /**
   * How pods get their network (with the docker runtime): `bridge` (the default) leaves it to the
   * engine's default bridge; `overlay` plumbs each sandbox onto this node's `cbr0` with an address
   * from the Node's spec.podCIDR and connects the nodes with a gossip-programmed overlay
   * (network/src/pod-network). Overlay needs root and the node's own network namespace.
   */
  readonly podNetwork?: 'bridge' | 'overlay'
  /** The overlay's backend (default host-gw). */
  readonly overlay?: OverlayBackend
  /** This node's underlay address for the overlay (default: the advertised API address). */
  readonly underlayIp?: string
}

/** The node agent backends (see DaemonOptions.runtime). */
export type DaemonRuntime = 'hollow' | 'docker' | 'none'

/** What `flotilla status` prints. */
export interface DaemonStatus {
  readonly clusterId: string
  readonly nodeId: string
  readonly name: string
  readonly zone: string
  readonly role: string
  readonly leader: string
  readonly leaderName: string
  readonly term: number
  readonly commit: number
  readonly applied: number
  readonly revision: number
  readonly members: ReadonlyArray<MemberRecord & { readonly raftRole: string; readonly alive: boolean }>
}

export class Daemon {
  readonly config: NodeConfig
  private readonly secret: Uint8Array
  private readonly options: DaemonOptions
  private readonly log: (line: string) => void
  private readonly clock = new ClockOs()
  private readonly random = randomFromEntropy()
  private host!: Libp2pHost
  private transport!: TransportLibp2p
  private gossip!: GossipLibp2p
  // A daemon keeps a modest watch history in memory: enough for watchers that reconnect within a
  // few seconds of heavy writes, small enough to keep the daemon's footprint low. Older revisions
  // answer "compacted", and the client relists, as Kubernetes clients do.
  readonly store = new RevisionedStore({ historyEventsMax: 20_000, historyBytesMax: 16 * 1024 * 1024 })
  raft!: RaftNode
  private liveness!: LivenessTable
  /** Gossip liveness with the node lifecycle's grace as its window (the leader's NotReady decisions). */
  private nodeLiveness!: LivenessTable
  private readonly timers = new TimersOs()
  private objects!: ObjectStore
  private controllerManager: ControllerManager | undefined
  private agent: HollowAgent | undefined
  private agentPods: Informer | undefined
  /** The agent over a container runtime (`--runtime docker`). */
  private nodeAgent: NodeAgent | undefined
  private nodeFence: NodeFence | undefined
  private fenceHeartbeat: FenceHeartbeat | undefined
  /** When the gossip watchdog last replaced the connection to each peer (monotonic ms). */
  private readonly gossipRepairs = new Map<string, number>()
  /** The pod network (`--pod-network overlay`). */
  private podNetwork: PodNetwork | undefined
  private networkServices: NodeNetworkServices | undefined
  private endpointGossip: EndpointGossipService | undefined
  /** LoadBalancer addresses this node announces, with the informers that feed it. */
  private vipAnnouncer: { readonly announcer: VipAnnouncer; readonly informers: readonly Informer[] } | undefined
  private members = new Map<string, MemberRecord>()
  private server: Server | undefined
  private kubeServer: Server | undefined
  /** The Kubernetes API (plain HTTP on the local API port for now; TLS and auth come next). */
  private kubernetesApi!: ApiHandler
  private intervals: NodeJS.Timeout[] = []
  private controllerBusy = false
  private stopped = false

  constructor(options: DaemonOptions) {
    const grace = options.nodeNotReadyGraceMs
    // Liveness beacons leave every HEARTBEAT_INTERVAL_MS: a shorter grace would flap every node.
    if (grace !== undefined && grace <= HEARTBEAT_INTERVAL_MS) {
      throw new InvalidConfigError(`The node-not-ready grace must be longer than the liveness beacon interval (${HEARTBEAT_INTERVAL_MS} ms), got ${grace} ms`)
    }
    this.options = options
    const { config, secret } = readNodeConfig(options.dataDirectory)
    this.config = config
    this.secret = secret
    this.log = options.log ?? ((line) => process.stderr.write(`${new Date().toISOString()} ${config.name} ${line}\n`))
  }

  async start(): Promise<void> {
    const config = this.config
    this.liveness = new LivenessTable({ nowMs: this.clock.monotonicMs(), aliveWindowMs: ALIVE_WINDOW_MS })
    this.nodeLiveness = new LivenessTable({ nowMs: this.clock.monotonicMs(), aliveWindowMs: this.options.nodeNotReadyGraceMs ?? NODE_NOT_READY_GRACE_MS_DEFAULT })
    this.host = new Libp2pHost({
      privateKey: await loadOrCreatePeerKey(peerKeyPath(this.options.dataDirectory)),
      listen: config.listen,
      joinSecret: this.secret,
      bootstrap: this.options.bootstrap ?? [],
      mdns: this.options.mdns ?? false,
      log: (line) => this.log(line),
      random: this.random,
      // Admission is the join secret; on top, removed members stay out (the allow-list).
      isAllowed: (peerId) => this.store.get(DENIED_PREFIX + peerId) === undefined,
    })
    await this.host.start()
    this.transport = new TransportLibp2p({ host: this.host, localId: config.nodeId, random: this.random, clock: this.clock, log: (line) => this.log(line) })
    this.gossip = new GossipLibp2p(this.host)
    this.raft = new RaftNode({
      id: config.nodeId,
      initialVoters: this.options.founding === true ? [config.nodeId] : [],
      dataDirectory: raftDirectory(this.options.dataDirectory),
      transport: this.transport,
      stateMachine: this.store,
      random: this.random,
      clock: this.clock,
      // 20 ms ticks: fine enough for the timers below, half the wake-ups of 10 ms ticks.
      tickMs: this.options.tickMs ?? 20,
      // 100 ms heartbeats and 600–1200 ms elections: failover under the 2 s goal, while idle
      // traffic stays low (each libp2p message costs Noise, yamux and a window update back; at
      // 40 ms heartbeats an idle 5-node leader spent 12 % of a core on them).
      raft: { heartbeatIntervalTicks: this.options.heartbeatTicks ?? 5, electionTimeoutTicks: this.options.electionTicks ?? 30 },
      log: (line) => this.log(line),
    })
    await this.raft.start()
    this.watchMembers()
    this.watchDenied()
    this.gossip.subscribe(LIVENESS_TOPIC, (_from, data) => this.onHeartbeat(data))
    await serveJoin(this.host, (request) => this.handleJoin(request), (line) => this.log(line))
    this.intervals.push(setInterval(() => void this.publishHeartbeat(), HEARTBEAT_INTERVAL_MS))
    this.intervals.push(setInterval(() => this.repairSilentConnections(), GOSSIP_WATCHDOG_INTERVAL_MS))
    this.intervals.push(setInterval(() => void this.reconcileMembership(), CONTROLLER_INTERVAL_MS))
    const backend: ObjectBackend = {
      readBarrier: () => this.raft.readBarrier(),
      get: (key) => this.store.get(key),
      range: (prefix) => this.store.rangeAll(prefix),
      write: (command) => this.write(command),
      watch: (request) => this.store.watch(request),
    }
    this.objects = new ObjectStore(backend)
    this.kubernetesApi = new ApiHandler({
      objects: this.objects,
      serverAddress: `127.0.0.1:${config.apiPort}`,
      log: (line) => this.log(`api: ${line}`),
      metrics: new MetricsApi({ objects: this.objects, records: new NodeMetricsReader({ backend, nowMs: () => this.clock.realtimeMs() }) }),
      // Streams of pods bound here; those of other nodes are proxied there before reaching the handler.
      podStreamsFor: () => {
        if (this.nodeAgent === undefined) throw serviceUnavailable(`node ${this.config.name} runs no container runtime (--runtime ${this.options.runtime ?? 'docker'}): pod logs, exec and port-forward are not available`)
        return this.nodeAgent.streams
      },
    })
    await this.startApi()
    if (this.options.founding === true) await this.registerSelf()
    else if (!this.members.has(config.nodeId)) await this.join()
    await this.startKubernetesApi()
    if (this.options.founding === true) await this.kubernetesApi.ensureSystemNamespaces()
    if (this.options.founding === true) await this.kubernetesApi.ensureDefaultStorageClass()
    this.startWorkloads(backend)
    this.log(`node ${config.name} (${config.nodeId}) up: peer ${this.host.peerId}, api 127.0.0.1:${config.apiPort}`)
  }

  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    for (const timer of this.intervals) clearInterval(timer)
    this.controllerManager?.stop()
    this.agent?.stop()
    this.agentPods?.stop()
    // First, so that the addresses move to another node while this one shuts down.
    await this.stopVipAnnouncer()
    this.podNetwork?.stop()
    this.endpointGossip?.stop()
    await this.networkServices?.stop().catch((error: Error) => this.log(`stopping the service proxy and DNS: ${error.message}`))
    this.nodeFence?.stop()
    this.fenceHeartbeat?.stop()
    await this.nodeAgent?.stop().catch((error: Error) => this.log(`stopping the node agent: ${error.message}`))
    await new Promise<void>((resolve) => (this.server === undefined ? resolve() : this.server.close(() => resolve())))
    this.kubeServer?.closeAllConnections()
    await new Promise<void>((resolve) => (this.kubeServer === undefined ? resolve() : this.kubeServer.close(() => resolve())))
    this.gossip.close()
    await this.raft.stop()
    await this.host.stop()
  }

  /** Addresses other machines can dial us at. */
  addresses(): string[] {
    return this.host.multiaddrs()
  }

  /** A token for `flotilla join`: the secret plus every member's addresses. */
  joinToken(): string {
    const addresses = [...this.members.values()].flatMap(dialableAddresses)
    return encodeJoinToken({ clusterId: this.config.clusterId, secret: this.secret, addresses: addresses.length > 0 ? addresses : this.addresses() })
  }

  status(): DaemonStatus {
    const raft = this.raft.status()
    const removed = new Set(this.raft.membership().removed ?? [])
    const nowMs = this.clock.monotonicMs()
    return {
      clusterId: this.config.clusterId,
      nodeId: this.config.nodeId,
      name: this.config.name,
      zone: this.config.zone,
      role: raft.role,
      leader: raft.leader,
      leaderName: this.members.get(raft.leader)?.name ?? '',
      term: raft.term,
      commit: raft.commit,
      applied: raft.applied,
      revision: this.store.revision(),
      members: [...this.members.values()]
        .filter((member) => !removed.has(member.nodeId))
        .map((member) => ({
          ...member,
          raftRole: raft.voters.includes(member.nodeId) ? 'voter' : raft.learners.includes(member.nodeId) ? 'learner' : 'joining',
          alive: member.nodeId === this.config.nodeId || this.liveness.view(member.nodeId, nowMs).alive,
        })),
    }
  }

  /** Proposes a store command through Raft from this node and returns its result. */
  async write(command: StoreCommand): Promise<StoreResult> {
    return (await this.raft.propose(encodeCommand(command))) as StoreResult
  }

  /**
   * Leaves the cluster: marks this node as leaving in the registry and waits until the leader has
   * removed it from the Raft group (a leaving leader first hands leadership over).
   */
  async leave(): Promise<void> {
    const self = this.config.nodeId
    const status = this.raft.status()
    if (status.voters.length === 1 && status.voters[0] === self) {
      throw new FlotillaError('Cannot leave: this is the only voter of the cluster (it would lose its data)')
    }
    await this.write({ op: 'put', key: LEAVING_PREFIX + self, value: new Uint8Array([1]) })
    await waitFor('the leader to remove this node', 30_000, () => {
      const current = this.raft.status()
      return !current.voters.includes(self) && !current.learners.includes(self) ? true : undefined
    }, 100)
  }

  // -----------------------------------------------------------------------------------------------
  // Members, joining, liveness

  private watchMembers(): void {
    const current = this.store.range({ prefix: MEMBERS_PREFIX })
    for (const item of current.items) this.upsertMember(decodeMember(item.value))
    this.store.watch({
      prefix: MEMBERS_PREFIX,
      fromRevision: current.revision + 1,
      onEvent: (event) => {
        if (event.type === 'put' && event.value !== undefined) this.upsertMember(decodeMember(event.value))
        else if (event.type === 'delete') this.members.delete(event.key.slice(MEMBERS_PREFIX.length))
        this.syncPeers()
      },
      onError: (error) => {
        this.log(`members watch ended: ${error.message}; restarting it`)
        if (!this.stopped) setTimeout(() => this.watchMembers(), 100)
      },
    })
    this.syncPeers()
  }

  /** Disconnects newly denied peers as soon as the denial is applied here. */
  private watchDenied(): void {
    this.store.watch({
      prefix: DENIED_PREFIX,
      fromRevision: this.store.revision() + 1,
      onEvent: () => void this.host.recheckAllowList(),
      onError: () => {
        if (!this.stopped) setTimeout(() => this.watchDenied(), 100)
      },
    })
  }

  private upsertMember(record: MemberRecord): void {
    this.members.set(record.nodeId, record)
  }

  /** Points the Raft transport and libp2p's keep-alive list at every member. */
  private syncPeers(): void {
    const peers = new Map<string, string>()
    for (const member of this.members.values()) {
      if (member.nodeId === this.config.nodeId) continue
      const address = dialableAddresses(member)[0]
      if (address === undefined) continue
      peers.set(member.nodeId, address)
      this.host.keep(address)
    }
    this.transport.setPeers(peers)
  }

  private selfRecord(): MemberRecord {
    const known = this.members.get(this.config.nodeId)?.apiAddress
    const record: MemberRecord = { nodeId: this.config.nodeId, name: this.config.name, zone: this.config.zone, peerId: this.host.peerId, addresses: this.addresses() }
    return known === undefined ? record : { ...record, apiAddress: known }
  }

  /** The founder registers itself once its one-voter group has elected it. */
  private async registerSelf(): Promise<void> {
    const deadline = this.clock.monotonicMs() + 10_000
    while (this.clock.monotonicMs() < deadline) {
      try {
        await this.register(this.selfRecord())
        return
      } catch (error) {
        if (!(error instanceof NotLeaderError || error instanceof TimeoutError)) throw error
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    }
    throw new TimeoutError('The new cluster did not elect its first leader within 10 s')
  }

  /** Writes a member record and claims its name, atomically; refuses a name held by another node. */
  private async register(record: MemberRecord): Promise<void> {
    const existing = this.store.get(nameKey(record.name))
    if (existing !== undefined && new TextDecoder().decode(existing.value) !== record.nodeId) {
      throw new JoinRefusedError(`Node name "${record.name}" is already used by another member; choose another with --name`)
    }
    const result = await this.write({
      op: 'txn',
      compares: [{ key: nameKey(record.name), modRevision: existing?.modRevision ?? 0 }],
      success: [
        { op: 'put', key: nameKey(record.name), value: new TextEncoder().encode(record.nodeId) },
        { op: 'put', key: memberKey(record.nodeId), value: encodeMember(record) },
      ],
      failure: [],
    })
    if ('succeeded' in result && result.succeeded === false) {
      throw new JoinRefusedError(`Node name "${record.name}" was just taken by another member; choose another with --name`)
    }
  }

  private async handleJoin(request: JoinRequest): Promise<readonly MemberRecord[]> {
    if (request.clusterId !== this.config.clusterId) {
      throw new JoinRefusedError(`This token belongs to cluster ${request.clusterId}, but this member is in cluster ${this.config.clusterId}`)
    }
    await this.raft.readBarrier()
    await this.register(request.member)
    return [...this.members.values(), request.member]
  }

  /** Registers through the bootstrap members, trying each until one accepts. */
  private async join(): Promise<void> {
    const addresses = this.options.bootstrap ?? []
    if (addresses.length === 0) return
    const request: JoinRequest = { clusterId: this.config.clusterId, member: this.selfRecord() }
    const failures: string[] = []
    for (let round = 0; round < 3; round++) {
      for (const address of addresses) {
        try {
          const members = await requestJoin(this.host, address, request, JOIN_TIMEOUT_MS)
          for (const member of members) this.upsertMember(member)
          this.syncPeers()
          this.log(`joined through ${address}`)
          return
        } catch (error) {
          if (error instanceof JoinRefusedError) throw error
          failures.push(`${address}: ${(error as Error).message}`)
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
    const recent = failures.slice(-addresses.length)
    const hint = recent.some((failure) => /decryption|handshake/i.test(failure)) ? '\nThe members refused the handshake: the token\'s join secret does not match this cluster.' : ''
    throw new FlotillaError(`Cannot reach any member to join the cluster:\n  ${recent.join('\n  ')}${hint}`)
  }

  private async publishHeartbeat(): Promise<void> {
    const heartbeat = packr.pack({ nodeId: this.config.nodeId })
    await this.gossip.publish(LIVENESS_TOPIC, heartbeat).catch(() => {
      // No peer subscribed yet (a lone node): nothing to tell.
    })
  }

  /**
   * The gossip watchdog. Every member beacons each second; a member that stays silent on gossip
   * while we still hold an open connection to it has a connection whose gossip streams died (seen
   * after a network partition heals: TCP survives, the pub-sub stream to that peer does not come
   * back until the connection is replaced). Closing the connection makes both sides redial and
   * open new streams. At most once per GOSSIP_REPAIR_INTERVAL_MS per peer.
   */
  private repairSilentConnections(): void {
    if (this.stopped) return
    const nowMs = this.clock.monotonicMs()
    const connected = new Set(this.host.connectedPeers())
    for (const member of this.members.values()) {
      if (member.nodeId === this.config.nodeId || !connected.has(member.peerId)) continue
      if (this.nodeLiveness.silentForMs(member.nodeId, nowMs) < GOSSIP_STALL_MS) continue
      const lastRepairMs = this.gossipRepairs.get(member.peerId)
      if (lastRepairMs !== undefined && nowMs - lastRepairMs < GOSSIP_REPAIR_INTERVAL_MS) continue
      this.gossipRepairs.set(member.peerId, nowMs)
      this.log(`gossip watchdog: ${member.name} is connected but silent for ${Math.round(this.nodeLiveness.silentForMs(member.nodeId, nowMs))} ms; reconnecting`)
      this.host.reconnect(member.peerId).catch((error: Error) => this.log(`gossip watchdog: reconnecting ${member.name}: ${error.message}`))
    }
  }

  private onHeartbeat(data: Uint8Array): void {
    try {
      const { nodeId } = packr.unpack(data) as { nodeId: string }
      if (typeof nodeId === 'string') {
        this.liveness.heard(nodeId, this.clock.monotonicMs())
        this.nodeLiveness.heard(nodeId, this.clock.monotonicMs())
      }
    } catch {
      // Malformed gossip is dropped; validators upstream already checked the signature.
    }
  }

  // -----------------------------------------------------------------------------------------------
  // Leader-only control loop

  private async reconcileMembership(): Promise<void> {
    if (this.controllerBusy || this.stopped || this.raft.status().role !== 'leader') return
    this.controllerBusy = true
    try {
      const status = this.raft.status()
      const nowMs = this.clock.monotonicMs()
      this.liveness.heard(this.config.nodeId, nowMs)
      const leaving = this.store.range({ prefix: LEAVING_PREFIX }).items.map((item) => item.key.slice(LEAVING_PREFIX.length))
      const action = planMembership(
        {
          leaderId: this.config.nodeId,
          voters: status.voters,
          learners: status.learners,
          removed: this.raft.membership().removed ?? [],
          members: [...this.members.values()].filter((member) => !leaving.includes(member.nodeId)),
          liveness: (nodeId) => this.liveness.view(nodeId, nowMs),
          matchIndex: (nodeId) => this.raft.matchIndex(nodeId),
          commitIndex: status.commit,
        },
        {
          deadVoterReplaceMs: this.options.deadVoterReplaceMs ?? 10_000,
          deadMemberRemovalMs: this.options.deadMemberRemovalMs ?? 15 * 60_000,
        },
      )
      const leaver = leaving[0]
      if (leaver === this.config.nodeId) {
        // We are leaving but lead: hand over first; the next leader removes us.
        const successor = status.voters.find((id) => id !== leaver && this.liveness.view(id, nowMs).alive)
        if (successor !== undefined) this.raft.transferLeadership(successor)
      } else if (leaver !== undefined) {
        if (status.voters.includes(leaver) || status.learners.includes(leaver)) {
          this.log(`membership: remove ${leaver} (leaving the cluster)`)
          await this.raft.proposeConfChange({ type: 'remove', nodeId: leaver })
        }
        await this.forgetMember(leaver)
        await this.write({ op: 'delete', key: LEAVING_PREFIX + leaver })
      } else if (action.kind === 'conf-change') {
        this.log(`membership: ${action.change.type} ${action.change.nodeId} (${action.change.reason})`)
        await this.raft.proposeConfChange({ type: action.change.type, nodeId: action.change.nodeId })
        if (action.deleteRecord) await this.forgetMember(action.change.nodeId)
      }
      const compactTo = this.store.compactionTarget()
      if (compactTo !== undefined) await this.write({ op: 'compact', revision: compactTo })
    } catch (error) {
      this.log(`membership controller: ${(error as Error).message}`)
    } finally {
      this.controllerBusy = false
    }
  }

  // -----------------------------------------------------------------------------------------------
  // Workloads: this node's Node object and agent, and the controller manager

  /**
   * Registers this node's Node object, starts its agent, and starts the controller manager, which
   * runs the controllers and the scheduler whenever this node is the Raft leader. Registration and
   * the agent retry in the background until the cluster has a leader.
   */
  private startWorkloads(backend: ObjectBackend): void {
    if (this.options.controllers === false) return
    const log = (line: string): void => this.log(line)
    const client = new ObjectClient(this.objects, { log })
    const runtime = this.options.runtime ?? 'docker'
    const internalIp = this.apiAddress().advertised.split(':')[0] ?? '127.0.0.1'
    if (runtime === 'docker') {
      this.retryInBackground('start the node agent on Docker', () => this.startDockerAgent(client, internalIp, backend))
    } else {
      const facts = localNodeFacts({
        name: this.config.name,
        zone: this.config.zone,
        containerRuntimeVersion: runtime === 'hollow' ? HOLLOW_RUNTIME_VERSION : 'none://',
        dataDirectory: this.options.dataDirectory,
        internalIp,
      })
      this.retryInBackground('register this node\'s Node object', () => registerNode(client, facts, formatTime(this.clock.realtimeMs())).then(() => undefined))
    }
    if (runtime === 'hollow') {
      const pods = new Informer({ objects: this.objects, resource: PODS, timers: this.timers, log })
      this.agentPods = pods
      this.agent = new HollowAgent({ client, recorder: new EventRecorder(client, { log }), nodeName: this.config.name, pods, timers: this.timers, random: this.random, log })
      this.retryInBackground('start the hollow agent', async () => {
        await pods.start()
        if (!this.stopped) this.agent?.start()
      })
    }
    this.controllerManager = new ControllerManager({
      backend,
      leadership: {
        status: () => {
          const status = this.raft.status()
          return { isLeader: status.role === 'leader', term: status.term }
        },
      },
      liveness: { silentForMs: (nodeName) => this.silentForMs(nodeName) },
      timers: this.timers,
      random: this.random,
      log,
      identity: this.config.name,
      selfNodeName: this.config.name,
      nodeNotReadyGraceMs: this.options.nodeNotReadyGraceMs ?? NODE_NOT_READY_GRACE_MS_DEFAULT,
      podEvictionTimeoutMs: this.options.podEvictionTimeoutMs ?? POD_EVICTION_TIMEOUT_MS_DEFAULT,
      podMetrics: new StoredPodMetrics({ backend, nowMs: () => this.clock.realtimeMs() }),
    })
    this.controllerManager.start()
  }

  /**
   * The Docker agent: the local images it needs (built from busybox-static, never pulled), the
   * Node object with the engine's version, then the pod loop. Retried until it succeeds.
   */
  private async startDockerAgent(client: ObjectClient, internalIp: string, backend: ObjectBackend): Promise<void> {
    if (this.nodeAgent !== undefined || this.stopped) return
    const log = (line: string): void => this.log(line)
    const socketPath = dockerSocketPath()
    const runtime = new RuntimeDocker({ nodeName: this.config.name, socketPath })
    const version = await runtime.version()
    await ensureLocalImages(new Docker({ socketPath }))
    const facts = machineNodeFacts({ name: this.config.name, zone: this.config.zone, runtimeVersion: version, dataDirectory: this.options.dataDirectory, internalIp })
    await registerNode(client, facts, formatTime(this.clock.realtimeMs()))
    if (this.stopped) return
    const podNetwork = this.options.podNetwork === 'overlay' ? await this.startPodNetwork(internalIp) : undefined
    if (this.stopped) return
    // Pod readiness by gossip, so that every node's service proxy follows it without Raft.
    const endpointGossip = podNetwork !== undefined ? this.startEndpointGossip() : undefined
    // With its own pod network the node also proxies Services and serves cluster DNS on the pod gateway.
    const dnsFor = podNetwork !== undefined ? await this.startNetworkServices(podNetwork, internalIp) : undefined
    if (this.stopped) return
    if (podNetwork !== undefined) await this.startVipAnnouncer(this.options.underlayIp ?? internalIp)
    if (this.stopped) return
    const fence = new NodeFence({
      timers: this.timers,
      voters: () => this.raft.status().voters,
      selfId: this.config.nodeId,
      silentForMs: (nodeId) => this.nodeLiveness.silentForMs(nodeId, this.clock.monotonicMs()),
      // The barrier brings the local replica up to the leader's commit; the informers' watch
      // deliveries drain from microtasks, so one macrotask later the agent's caches have it too.
      confirmCaughtUp: async () => {
        await this.raft.readBarrier()
        await new Promise((resolve) => setImmediate(resolve))
      },
      onChange: () => this.nodeAgent?.fenceChanged(),
      log,
    })
    const agent = new NodeAgent({
      fence,
      nodeName: this.config.name,
      hostIp: internalIp,
      runtime,
      objects: this.objects,
      client,
      dataDirectory: this.options.dataDirectory,
      backend,
      // Daemons sharing a machine (tests, the lab) would each report the whole machine.
      nodeUsage: process.env['FLOTILLA_NODE_USAGE'] === 'containers' ? 'containers' : 'proc',
      ...(this.options.metricsPeriodMs !== undefined ? { metricsPeriodMs: this.options.metricsPeriodMs } : {}),
      facts: () => facts,
      timers: this.timers,
      random: this.random,
      log,
      ...(this.options.crashBackoffInitialMs !== undefined ? { crashBackoffInitialMs: this.options.crashBackoffInitialMs } : {}),
      ...(podNetwork !== undefined ? { podNetwork: { setUp: (pod, sandbox) => podNetwork.setUpPod(pod, sandbox), tearDown: (podUid) => podNetwork.tearDownPod(podUid), podsWithAddresses: () => podNetwork.podsWithAddresses() } } : {}),
      ...(dnsFor !== undefined ? { dnsFor } : {}),
      ...(endpointGossip !== undefined ? { onLocalPodStatus: (pod: JsonObject, status: JsonObject) => endpointGossip.localPodStatus(pod, status), onLocalPodGone: (uid: string) => endpointGossip.localPodGone(uid) } : {}),
    })
    this.nodeAgent = agent
    await agent.start()
    this.nodeFence = fence
    fence.start()
    // The half of the fence that outlives this process: see fence-keeper.ts.
    this.fenceHeartbeat = new FenceHeartbeat({ dataDirectory: this.options.dataDirectory, dockerSocket: socketPath, nodeName: this.config.name, log })
    this.fenceHeartbeat.start()
    log(`node agent running pods on Docker ${version.runtimeVersion}`)
  }

  /** Endpoint gossip (network/src/endpoint-gossip) of a node with its own pod network; started once. */
  private startEndpointGossip(): EndpointGossipService {
    if (this.endpointGossip === undefined) {
      this.endpointGossip = new EndpointGossipService({ nodeName: this.config.name, gossip: this.gossip, timers: this.timers, log: (line) => this.log(line) })
      this.endpointGossip.start()
    }
    return this.endpointGossip
  }

  /**
   * The service proxy (nftables) and cluster DNS (on the pod gateway, port 53) of a node with its
   * own pod network; returns each pod's resolver configuration (kubelet's dnsPolicy rules).
   */
  private async startNetworkServices(podNetwork: PodNetwork, internalIp: string): Promise<(pod: JsonObject) => SandboxConfig['dns']> {
    const gateway = podNetwork.gatewayIp
    if (gateway === undefined) throw new FlotillaError('the pod network has no gateway address yet')
    if (this.networkServices === undefined) {
      const services = new NodeNetworkServices({
        nodeName: this.config.name,
        nodeIps: [this.options.underlayIp ?? internalIp],
        objects: this.objects,
        timers: this.timers,
        log: (line) => this.log(line),
        dnsAddress: { host: gateway, port: 53 },
        ...(this.endpointGossip !== undefined ? { endpointGossip: this.endpointGossip } : {}),
      })
      await services.start()
      this.networkServices = services
    }
    const host = parseResolvConf(readFileSync('/etc/resolv.conf', 'utf8'))
    return (pod) => podResolverConfig(pod, { clusterDnsServers: [gateway], clusterDomain: 'cluster.local', host })
  }

  /**
   * The LoadBalancer address announcer (network/src/load-balancer) of a node with its own pod
   * network, over informers of its own (Services, Nodes, EndpointSlices) and gossip liveness, so
   * that failover needs neither Raft nor the leader.
   */
  private async startVipAnnouncer(underlayIp: string): Promise<void> {
    if (this.vipAnnouncer !== undefined) return
    const log = (line: string): void => this.log(line)
    const informers = [SERVICES, NODES, ENDPOINT_SLICES].map((resource) => new Informer({ objects: this.objects, resource, timers: this.timers, log }))
    const [services, nodes, slices] = informers as [Informer, Informer, Informer]
    const announcer = new VipAnnouncer({
      nodeName: this.config.name,
      underlayIp,
      timers: this.timers,
      snapshot: () => ({ services: services.list(), nodes: nodes.list(), endpointSlices: slices.list() }),
      isAlive: (nodeName) => this.silentForMs(nodeName) === 0,
      log,
    })
    const changed = { onAdd: () => announcer.changed(), onUpdate: () => announcer.changed(), onDelete: () => announcer.changed() }
    for (const informer of informers) informer.addHandlers(changed)
    // Recorded before the lists, so that a stop during them still stops the informers.
    this.vipAnnouncer = { announcer, informers }
    try {
      await Promise.all(informers.map((informer) => informer.start()))
    } catch (error) {
      // The agent's start is retried as a whole; the next attempt builds a fresh announcer.
      for (const informer of informers) informer.stop()
      this.vipAnnouncer = undefined
      throw error
    }
    if (!this.stopped) announcer.start()
  }

  private async stopVipAnnouncer(): Promise<void> {
    const running = this.vipAnnouncer
    if (running === undefined) return
    for (const informer of running.informers) informer.stop()
    await running.announcer.stop().catch((error: Error) => this.log(`stopping the load balancer announcer: ${error.message}`))
  }

  /**
   * The pod network over this node's pod CIDR, which the leader's node IPAM writes into the Node
   * object after registration: waits for it (the agent retries this whole start until it is
   * there), then sets up the bridge and overlay and starts gossiping.
   */
  private async startPodNetwork(internalIp: string): Promise<PodNetwork> {
    if (this.podNetwork !== undefined) return this.podNetwork
    const node = await this.objects.get(NODES, undefined, this.config.name)
    const podCidr = (node['spec'] as { podCIDR?: unknown } | undefined)?.podCIDR
    if (typeof podCidr !== 'string' || podCidr === '') throw new FlotillaError(`node ${this.config.name} has no spec.podCIDR yet (the leader assigns it)`)
    const network = new PodNetwork({ nodeName: this.config.name, gossip: this.gossip, dataDirectory: this.options.dataDirectory, timers: this.timers, log: (line) => this.log(line) })
    await network.start({ podCidr, underlayIp: this.options.underlayIp ?? internalIp, backend: this.options.overlay ?? 'host-gw' })
    this.podNetwork = network
    return network
  }

  /**
   * Where a pod stream request (log, exec, attach, port-forward) must go when the pod runs on
   * another node: that node's API, or undefined to answer here.
   */
  private async podStreamProxyTarget(request: IncomingMessage): Promise<ProxyTarget | undefined> {
    const target = podStreamTarget(request)
    if (target === undefined) return undefined
    let nodeName: unknown
    try {
      const pod = await this.objects.get(PODS, target.namespace, target.name)
      nodeName = (pod['spec'] as { nodeName?: unknown } | undefined)?.nodeName
    } catch {
      return undefined
    }
    if (typeof nodeName !== 'string' || nodeName === '' || nodeName === this.config.name) return undefined
    const member = [...this.members.values()].find((candidate) => candidate.name === nodeName)
    if (member?.apiAddress === undefined) throw serviceUnavailable(`pod ${target.namespace}/${target.name} runs on node ${nodeName}, whose API address is not known`)
    const ca = await this.clusterCa()
    return { apiAddress: member.apiAddress, caPem: ca.certPem, viaNodeName: this.config.name }
  }

  /** How long the node named `nodeName` has been silent on gossip (its own node: never). */
  private silentForMs(nodeName: string): number {
    if (nodeName === this.config.name) return 0
    const member = [...this.members.values()].find((candidate) => candidate.name === nodeName)
    // A Node object without a member (a removed machine) is silent for good.
    if (member === undefined) return Number.POSITIVE_INFINITY
    const view = this.nodeLiveness.view(member.nodeId, this.clock.monotonicMs())
    return view.alive ? 0 : view.deadForMs
  }

  /** Runs `attempt` until it succeeds or the daemon stops, logging failures now and then. */
  private retryInBackground(what: string, attempt: () => Promise<void>): void {
    let failures = 0
    const run = (): void => {
      if (this.stopped) return
      attempt().catch((error: Error) => {
        failures++
        if (failures === 1 || failures % 20 === 0) this.log(`cannot ${what} yet (${error.message}); retrying`)
        if (!this.stopped) setTimeout(run, AGENT_RETRY_MS).unref()
      })
    }
    run()
  }

  // -----------------------------------------------------------------------------------------------
  // Kubernetes API over HTTPS

  /** The cluster CA from the store; the founder creates it, joiners wait for it to replicate. */
  private async clusterCa(): Promise<KeyAndCertificate> {
    const deadline = this.clock.monotonicMs() + 30_000
    for (;;) {
      const stored = this.store.get(CA_KEY)
      if (stored !== undefined) return JSON.parse(new TextDecoder().decode(stored.value)) as KeyAndCertificate
      if (this.options.founding === true) {
        const ca = await createCertificateAuthority(`flotilla-ca-${this.config.clusterId}`)
        // Create-only: if another writer won, use theirs on the next loop.
        await this.write({ op: 'put', key: CA_KEY, value: new TextEncoder().encode(JSON.stringify(ca)), ifModRevision: 0 })
        continue
      }
      if (this.clock.monotonicMs() > deadline) throw new TimeoutError('The cluster CA did not replicate to this node within 30 s')
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  }

  /** host:port clients should use for this node's Kubernetes API. */
  private apiAddress(): { listenHost: string; port: number; advertised: string; ipAddresses: string[] } {
    const [host, portText] = (this.config.kubeListen ?? '0.0.0.0:6443').split(':') as [string, string]
    const port = Number(portText)
    const external = Object.values(networkInterfaces()).flat().find((address) => address !== undefined && address.family === 'IPv4' && !address.internal)?.address
    const advertisedHost = host === '0.0.0.0' ? (external ?? '127.0.0.1') : host
    const ipAddresses = [...new Set(['127.0.0.1', advertisedHost, ...(host === '0.0.0.0' && external !== undefined ? [external] : [])])]
    return { listenHost: host, port, advertised: `${advertisedHost}:${port}`, ipAddresses }
  }

  private async startKubernetesApi(): Promise<void> {
    const ca = await this.clusterCa()
    const address = this.apiAddress()
    const serving = await issueServingCertificate(ca, { commonName: `flotilla-${this.config.name}`, ipAddresses: address.ipAddresses, dnsNames: ['localhost', this.config.name] })
    const tlsDirectory = join(this.options.dataDirectory, 'tls')
    mkdirSync(tlsDirectory, { recursive: true, mode: 0o700 })
    writeFileSync(join(tlsDirectory, 'serving.crt'), serving.certPem, { mode: 0o600 })
    writeFileSync(join(tlsDirectory, 'serving.key'), serving.keyPem, { mode: 0o600 })
    const server = createHttpsServer({ cert: serving.certPem, key: serving.keyPem }, (request, response) => {
      this.authenticate(request)
        .then(
          async () => {
            const proxy = await this.podStreamProxyTarget(request)
            if (proxy === undefined) return this.kubernetesApi.handle(request, response)
            await proxyRequest(request, response, proxy)
          },
          () => sendJson(response, 401, unauthorized().toStatus()),
        )
        .catch((error: unknown) => {
          if (response.headersSent) response.destroy()
          else sendJson(response, 503, serviceUnavailable(`cannot reach the pod's node: ${(error as Error).message}`).toStatus())
        })
    })
    // exec, attach and port-forward arrive as connection upgrades (SPDY/3.1 or WebSocket), authenticated alike.
    server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.authenticate(request)
        .then(
          async () => {
            const proxy = await this.podStreamProxyTarget(request)
            if (proxy === undefined) return this.kubernetesApi.handleUpgrade(request, socket, head)
            await proxyUpgrade(request, socket, head, proxy)
          },
          () => writeUpgradeRefusal(socket, unauthorized().toStatus()),
        )
        .catch((error: unknown) => writeUpgradeRefusal(socket, serviceUnavailable(`cannot reach the pod's node: ${(error as Error).message}`).toStatus()))
    })
    server.keepAliveTimeout = 60_000
    this.kubeServer = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(address.port, address.listenHost, () => resolve())
    })
    if (this.members.get(this.config.nodeId)?.apiAddress !== address.advertised) {
      await this.register({ ...this.selfRecord(), apiAddress: address.advertised }).catch((error: Error) => this.log(`cannot record the API address: ${error.message}`))
    }
  }

  /** Accepts a request with a known bearer token (or an anonymous one for health and version). */
  private async authenticate(request: IncomingMessage): Promise<void> {
    const path = new URL(request.url ?? '/', 'https://api').pathname
    if (ANONYMOUS_PATHS.has(path)) return
    const token = bearerTokenOf(request.headers.authorization)
    if (token === undefined || this.store.get(tokenKey(token)) === undefined) throw unauthorized()
  }

  /** Mints a token and returns a kubeconfig with one context per node (this node current). */
  private async mintKubeconfig(): Promise<string> {
    const ca = await this.clusterCa()
    const token = newBearerToken()
    await this.write({ op: 'put', key: tokenKey(token), value: new TextEncoder().encode(JSON.stringify({ user: 'admin', groups: ['system:masters'] })) })
    const caData = Buffer.from(ca.certPem).toString('base64')
    const nodes = [...this.members.values()].filter((member) => member.apiAddress !== undefined).sort((a, b) => (a.nodeId === this.config.nodeId ? -1 : b.nodeId === this.config.nodeId ? 1 : a.name.localeCompare(b.name)))
    const cluster = (member: MemberRecord): string => `- name: ${member.name}\n  cluster:\n    server: https://${member.apiAddress}\n    certificate-authority-data: ${caData}`
    const context = (member: MemberRecord): string => `- name: ${member.name}\n  context:\n    cluster: ${member.name}\n    user: admin\n    namespace: default`
    return [
      'apiVersion: v1',
      'kind: Config',
      `clusters:\n${nodes.map(cluster).join('\n')}`,
      `contexts:\n${nodes.map(context).join('\n')}`,
      `current-context: ${this.config.name}`,
      `users:\n- name: admin\n  user:\n    token: ${token}`,
      '',
    ].join('\n')
  }

  /**
   * Drops a removed member from the registry and denies its libp2p identity from now on: a
   * removed machine must rejoin with a new identity and a fresh data directory.
   */
  private async forgetMember(nodeId: string): Promise<void> {
    const record = this.members.get(nodeId)
    await this.write({ op: 'delete', key: memberKey(nodeId) })
    if (record === undefined) return
    await this.write({ op: 'delete', key: nameKey(record.name) })
    await this.write({ op: 'put', key: DENIED_PREFIX + record.peerId, value: new TextEncoder().encode(nodeId) })
  }

  // -----------------------------------------------------------------------------------------------
  // Local API for the CLI (127.0.0.1 only)

  private async startApi(): Promise<void> {
    const server = createServer((request, response) => {
      this.handleApi(request, response).catch((error: unknown) => sendJson(response, errorStatus(error), { error: (error as Error).message }))
    })
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.config.apiPort, '127.0.0.1', () => resolve())
    })
  }

  private async handleApi(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://flotilla')
    const route = `${request.method} ${url.pathname}`
    if (route === 'GET /v1/status') return sendJson(response, 200, this.status())
    if (route === 'GET /v1/token') return sendJson(response, 200, { token: this.joinToken() })
    if (route === 'POST /v1/kubeconfig') return sendJson(response, 200, { kubeconfig: await this.mintKubeconfig() })
    if (route === 'POST /v1/leave') {
      await this.leave()
      sendJson(response, 200, { left: true })
      setTimeout(() => void this.stop().then(() => process.exit(0)), 100)
      return
    }
    if (route === 'GET /v1/watch') return this.handleWatch(request, response, url)
    if (url.pathname.startsWith('/v1/kv/')) return this.handleKv(request, response, decodeURIComponent(url.pathname.slice('/v1/kv/'.length)), url)
    sendJson(response, 404, { error: `No route for ${route}` })
  }

  /**
   * Streams store events under `prefix` from `fromRevision` as NDJSON until the client goes away
   * (or the history is compacted past it: then one `{"error"}` line ends the stream).
   */
  private handleWatch(request: IncomingMessage, response: ServerResponse, url: URL): void {
    const prefix = url.searchParams.get('prefix') ?? ''
    const fromRevision = Number(url.searchParams.get('fromRevision') ?? this.store.revision() + 1)
    if (!Number.isSafeInteger(fromRevision) || fromRevision < 0) {
      sendJson(response, 400, { error: `fromRevision must be a non-negative integer, got "${url.searchParams.get('fromRevision')}"` })
      return
    }
    response.writeHead(200, { 'content-type': 'application/x-ndjson' })
    response.flushHeaders()
    const decoder = new TextDecoder()
    const cancel = this.store.watch({
      prefix,
      fromRevision,
      onEvent: (event) => {
        const line = { type: event.type, key: event.key, value: event.value === undefined ? null : decoder.decode(event.value), modRevision: event.modRevision }
        response.write(`${JSON.stringify(line)}\n`)
      },
      onError: (error) => {
        response.end(`${JSON.stringify({ error: error.message })}\n`)
      },
    })
    request.on('close', cancel)
  }

  private async handleKv(request: IncomingMessage, response: ServerResponse, key: string, url: URL): Promise<void> {
    if (key === '') return sendJson(response, 400, { error: 'Key must not be empty' })
    if (request.method === 'GET') {
      if (url.searchParams.get('serializable') !== '1') await this.raft.readBarrier()
      const item = this.store.get(key)
      if (item === undefined) return sendJson(response, 404, { error: `Key "${key}" not found`, revision: this.store.revision() })
      return sendJson(response, 200, { key, value: new TextDecoder().decode(item.value), modRevision: item.modRevision, version: item.version, revision: this.store.revision() })
    }
    if (request.method === 'PUT') {
      const chunks: Buffer[] = []
      for await (const chunk of request as AsyncIterable<Buffer>) chunks.push(chunk)
      const ifModRevision = url.searchParams.get('ifModRevision')
      const result = await this.write({
        op: 'put',
        key,
        value: new Uint8Array(Buffer.concat(chunks)),
        ...(ifModRevision !== null ? { ifModRevision: Number(ifModRevision) } : {}),
      })
      return sendJson(response, 'ok' in result && result.ok === false ? 409 : 200, result)
    }
    sendJson(response, 405, { error: `Method ${request.method} not allowed on /v1/kv/` })
  }
}

function errorStatus(error: unknown): number {
  if (error instanceof NotLeaderError || error instanceof TimeoutError) return 503
  if (error instanceof JoinRefusedError) return 409
  return 500
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, (_key, value: unknown) => (value instanceof Uint8Array ? new TextDecoder().decode(value) : value))
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  response.end(text)
}

/**
 * The Docker engine's socket: FLOTILLA_DOCKER_SOCKET, else a `unix://` DOCKER_HOST, else the
 * default (/var/run/docker.sock). The lab gives each emulated host's daemon its host's engine.
 */
function dockerSocketPath(): string {
  const explicit = process.env['FLOTILLA_DOCKER_SOCKET']
  if (explicit !== undefined && explicit !== '') return explicit
  const host = process.env['DOCKER_HOST']
  if (host !== undefined && host.startsWith('unix://')) return host.slice('unix://'.length)
  return DOCKER_SOCKET_PATH
}
