/**
 * "A StatefulSet identity never runs twice at once": the suite's StatefulSet runs during the faults
 * while this checker lists, every ~250 ms, the running containers of its pods on every host's
 * Docker engine directly (not through the API, which may be partitioned or behind), by the
 * runtime's pod labels (runtime.ts RUNTIME_LABELS).
 *
 * Hosts still count while they are cut off (partitioned hosts answer: the checker reaches engines
 * directly). A killed host's engine refuses connections and its containers are dead, so it runs
 * nothing. A frozen host's engine does not answer (the listing times out): its containers are
 * suspended — they execute nothing — so they do not count while it is frozen; what matters is
 * whether they run on after the thaw, and the first listings after the thaw show exactly that
 * (Flotilla's fence kills a StatefulSet container at the first check after waking from a stall).
 *
 * The listings of one round are not simultaneous, so one round showing an identity on two hosts
 * proves nothing (it may have moved between the two listings). The detection therefore demands
 * the SAME containers on both hosts in two consecutive rounds: round k+1 starts after round k has
 * ended, so each container's [round k, round k+1] listing interval contains the other's round-k
 * listing time, and a container seen running twice with one id ran throughout (the runtime makes
 * a new container for every restart).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import Docker from 'dockerode'
import { RUNTIME_LABELS } from '../../../runtime/src/runtime.ts'

export const STATEFULSET_NAME = 'chaos-sts'
const NAMESPACE = 'default'
export const IDENTITY_SAMPLE_INTERVAL_MS = 250
/** A listing slower than this is a host that does not answer (frozen, or its engine overloaded). */
const LISTING_TIMEOUT_MS = 1_500

/** One host's running containers of the watched pods: identity (namespace/name) → container ids. */
export type HostListing = ReadonlyMap<string, readonly string[]>

/** One sampling round: every host's listing, or `'unanswered'` when its engine did not answer in time. */
export type Round = ReadonlyMap<string, HostListing | 'unanswered' | 'down'>

export interface IdentityViolation {
  readonly identity: string
  readonly hosts: readonly string[]
  /** When the second of the two confirming rounds began (checker clock). */
  readonly timeMs: number
  readonly containers: readonly string[]
}

/**
 * The pure detection: feed it rounds in order; it returns the violations each round confirms.
 * `'unanswered'` (frozen: its containers are suspended) and `'down'` (engine refuses: the host is
 * dead) both leave the host running nothing until it answers again.
 */
export class IdentityTracker {
  private readonly known = new Map<string, HostListing>()
  /** identity → "host:container" keys seen on ≥ 2 hosts in the previous round. */
  private previous = new Map<string, ReadonlySet<string>>()
  private readonly reported = new Set<string>()
  readonly violations: IdentityViolation[] = []

  observe(round: Round, timeMs: number): IdentityViolation[] {
    for (const [host, listing] of round) {
      if (listing === 'down' || listing === 'unanswered') this.known.delete(host)
      else this.known.set(host, listing)
    }
    const current = new Map<string, Set<string>>()
    const holders = new Map<string, Map<string, readonly string[]>>()
    for (const [host, listing] of this.known) {
      for (const [identity, containers] of listing) {
        if (containers.length === 0) continue
        const byHost = holders.get(identity) ?? new Map<string, readonly string[]>()
        byHost.set(host, containers)
        holders.set(identity, byHost)
      }
    }
    const found: IdentityViolation[] = []
    for (const [identity, byHost] of holders) {
      if (byHost.size < 2) continue
      const keys = new Set([...byHost].flatMap(([host, containers]) => containers.map((id) => `${host}:${id}`)))
      current.set(identity, keys)
      const before = this.previous.get(identity)
      if (before === undefined) continue
      // The hosts whose very containers were also running in the previous round.
      const confirmed = [...byHost].filter(([host, containers]) => containers.some((id) => before.has(`${host}:${id}`)))
      if (confirmed.length < 2) continue
      const hosts = confirmed.map(([host]) => host).sort()
      const key = `${identity}@${hosts.join(',')}`
      if (this.reported.has(key)) continue
      this.reported.add(key)
      const violation: IdentityViolation = { identity, hosts, timeMs, containers: confirmed.flatMap(([host, containers]) => containers.map((id) => `${host}:${id.slice(0, 12)}`)) }
      found.push(violation)
      this.violations.push(violation)
    }
    this.previous = current
    return found
  }
}

/** The StatefulSet the checker watches (busybox sleep; OrderedReady, as Kubernetes' default). */
export function identityStatefulSet(replicas: number): unknown {
  const labels = { app: STATEFULSET_NAME }
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name: STATEFULSET_NAME, namespace: NAMESPACE },
    spec: {
      replicas,
      serviceName: STATEFULSET_NAME,
      selector: { matchLabels: labels },
      template: { metadata: { labels }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'app', image: 'flotilla/busybox:local', command: ['sleep', '36000'] }] } },
    },
  }
}

export const statefulSetPath = `/apis/apps/v1/namespaces/${NAMESPACE}/statefulsets`

/** Whether a pod name is one of the watched StatefulSet's identities (`chaos-sts-<ordinal>`). */
export function isIdentity(podName: string): boolean {
  return new RegExp(`^${STATEFULSET_NAME}-\\d+$`).test(podName)
}

/** Lists a host's running app containers of the StatefulSet's pods. */
export async function listIdentities(engine: Docker): Promise<HostListing | 'unanswered' | 'down'> {
  const filters = JSON.stringify({ label: [`${RUNTIME_LABELS.kind}=container`, `${RUNTIME_LABELS.podNamespace}=${NAMESPACE}`], status: ['running'] })
  try {
    const containers = await engine.listContainers({ filters })
    const listing = new Map<string, string[]>()
    for (const container of containers) {
      const name = container.Labels[RUNTIME_LABELS.podName]
      if (name === undefined || !isIdentity(name)) continue
      const identity = `${NAMESPACE}/${name}`
      listing.set(identity, [...(listing.get(identity) ?? []), container.Id])
    }
    return listing
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    // The socket file is gone or nothing listens: the engine (and so every container) is dead.
    if (code === 'ECONNREFUSED' || code === 'ENOENT') return 'down'
    return 'unanswered'
  }
}

/** Samples every host's engine until stopped; the violations are in `tracker.violations`. */
export class IdentitySampler {
  readonly tracker = new IdentityTracker()
  rounds = 0
  private running = false
  private loop: Promise<void> | undefined
  private readonly engines: ReadonlyMap<string, Docker>
  private readonly now: () => number

  /** `sockets`: host name → its engine's socket path. */
  constructor(sockets: ReadonlyMap<string, string>, now: () => number) {
    this.engines = new Map([...sockets].map(([host, socketPath]) => [host, new Docker({ socketPath, timeout: LISTING_TIMEOUT_MS })]))
    this.now = now
  }

  start(): void {
    this.running = true
    this.loop = (async () => {
      while (this.running) {
        const startedMs = this.now()
        const listings = await Promise.all([...this.engines].map(async ([host, engine]) => [host, await listIdentities(engine)] as const))
        this.tracker.observe(new Map(listings), startedMs)
        this.rounds++
        await sleep(Math.max(0, IDENTITY_SAMPLE_INTERVAL_MS - (this.now() - startedMs)))
      }
    })()
  }

  async stop(): Promise<void> {
    this.running = false
    await this.loop
  }
}
