/**
 * The records of the cluster DNS zone, pure: from Services, EndpointSlices
 * (discovery.k8s.io/v1) and Pods to an immutable index that answers one question at a time,
 * following the Kubernetes DNS specification (kubernetes/dns docs/specification.md) as CoreDNS's
 * `kubernetes` plugin serves it:
 *
 * - `<svc>.<ns>.svc.<domain>`: A/AAAA = the cluster IPs; for a headless service (clusterIP None)
 *   the addresses of its ready endpoints (all endpoints with `publishNotReadyAddresses`); for an
 *   ExternalName service a CNAME to the external name.
 * - `_<port>._<proto>.<svc>.<ns>.svc.<domain>` SRV for every named port: one record targeting the
 *   service name, or for a headless service one per endpoint address, targeting
 *   `<hostname>.<svc>.<ns>.svc.<domain>` (the endpoint's hostname, else its address with dashes),
 *   which has its own A/AAAA record. Answers carry the targets' addresses as additional records.
 * - `<hostname>.<subdomain>.<ns>.svc.<domain>` for a ready pod with `spec.hostname` and
 *   `spec.subdomain` naming a headless service of its namespace (StatefulSet pods): the pod's IPs.
 * - `<a-b-c-d>.<ns>.pod.<domain>`: the IP of a pod of that namespace that has it ("pods verified").
 *
 * Names are absolute here (the stub resolver applies the search path). Lookups are
 * case-insensitive. A name under the domain that has no records but is the parent of one (such as
 * `<ns>.svc.<domain>` or `_tcp.<svc>...`) exists, so it gets NODATA rather than NXDOMAIN (RFC 8020);
 * negative answers carry the zone's SOA so that resolvers cache them for the TTL only.
 * Names outside the domain are not ours: `lookup` returns undefined and the server forwards them.
 */
import { isIP } from 'node:net'
import { InvalidConfigError } from '../../../lib/errors.ts'
import { canonicalName, CLASS_IN, nameToLabels, RCODE, RR_TYPE, type RecordData, type ResourceRecord } from './wire.ts'

/** The default cluster domain (kubelet's `--cluster-domain`). */
export const CLUSTER_DOMAIN_DEFAULT = 'cluster.local'
/** CoreDNS's default TTL for cluster records: short, because endpoints move. */
export const CLUSTER_TTL_SECONDS_DEFAULT = 5
/** The label that ties an EndpointSlice to its Service. */
const SERVICE_NAME_LABEL = 'kubernetes.io/service-name'

export interface ClusterRecordsInputs {
  readonly services: readonly unknown[]
  readonly endpointSlices: readonly unknown[]
  readonly pods: readonly unknown[]
  /** The cluster domain, default cluster.local. */
  readonly clusterDomain?: string
  readonly ttlSeconds?: number
  /** The SOA serial; bump it when the inputs change (for example, the store revision). */
  readonly serial?: number
}

/** The answer to one question about the cluster zone. */
export interface ClusterAnswer {
  /** RCODE.NOERROR or RCODE.NXDOMAIN. */
  readonly rcode: number
  readonly answers: readonly ResourceRecord[]
  /** The zone's SOA on negative answers (NXDOMAIN and NODATA). */
  readonly authorities: readonly ResourceRecord[]
  /** Addresses of SRV targets. */
  readonly additionals: readonly ResourceRecord[]
}

interface NameEntry {
  readonly ipv4: Set<string>
  readonly ipv6: Set<string>
  readonly srv: { priority: number; weight: number; port: number; target: string }[]
  cname?: string
}

// Narrow readers over untyped API objects: the network module does not depend on node/.
type Fields = Readonly<Record<string, unknown>>
function fields(value: unknown): Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Fields) : {}
}
function text(value: unknown): string {
  return typeof value === 'string' ? value : ''
}
function list(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? value : []
}

/** Validates and normalises a cluster domain ("Cluster.Local." → "cluster.local"). */
export function normaliseClusterDomain(domain: string): string {
  const normalised = canonicalName(domain.trim())
  if (normalised === '' || !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(normalised)) {
    throw new InvalidConfigError(`cluster domain must be a DNS name such as cluster.local, got ${JSON.stringify(domain)}`)
  }
  return normalised
}

/** An address as a DNS label: dots and colons become dashes (10.0.0.1 → 10-0-0-1). */
export function addressLabel(address: string): string {
  return address.replace(/[.:]/g, '-')
}

function podIps(pod: unknown): string[] {
  const status = fields(fields(pod)['status'])
  const ips = list(status['podIPs']).map((entry) => text(fields(entry)['ip']))
  ips.push(text(status['podIP']))
  return [...new Set(ips.filter((ip) => isIP(ip) !== 0))]
}

function podReady(pod: unknown): boolean {
  const status = fields(fields(pod)['status'])
  return list(status['conditions']).some((condition) => fields(condition)['type'] === 'Ready' && fields(condition)['status'] === 'True')
}

function podFinished(pod: unknown): boolean {
  const phase = fields(fields(pod)['status'])['phase']
  return phase === 'Succeeded' || phase === 'Failed'
}

/** An immutable index of the cluster zone; build a new one when the inputs change. */
export class ClusterRecords {
  readonly domain: string
  readonly ttlSeconds: number
  private readonly serial: number
  private readonly entries = new Map<string, NameEntry>()
  /** Names that exist only as parents of others (empty non-terminals). */
  private readonly parents = new Set<string>()

  constructor(inputs: ClusterRecordsInputs) {
    this.domain = normaliseClusterDomain(inputs.clusterDomain ?? CLUSTER_DOMAIN_DEFAULT)
    this.ttlSeconds = inputs.ttlSeconds ?? CLUSTER_TTL_SECONDS_DEFAULT
    if (!Number.isInteger(this.ttlSeconds) || this.ttlSeconds < 0) throw new InvalidConfigError(`DNS TTL must be a non-negative integer, got ${this.ttlSeconds}`)
    this.serial = (inputs.serial ?? 1) >>> 0
    const slicesByService = new Map<string, unknown[]>()
    for (const slice of inputs.endpointSlices) {
      const metadata = fields(fields(slice)['metadata'])
      const service = text(fields(metadata['labels'])[SERVICE_NAME_LABEL])
      if (service === '') continue
      const key = `${text(metadata['namespace'])}/${service}`
      slicesByService.set(key, [...(slicesByService.get(key) ?? []), slice])
    }
    const headless = new Map<string, boolean>()
    for (const service of inputs.services) {
      const metadata = fields(fields(service)['metadata'])
      const key = `${text(metadata['namespace'])}/${text(metadata['name'])}`
      const publishNotReady = this.addService(service, slicesByService.get(key) ?? [])
      if (publishNotReady !== undefined) headless.set(key, publishNotReady)
    }
    for (const pod of inputs.pods) this.addPod(pod, headless)
  }

  /** True when `name` is the domain or below it. */
  isInZone(name: string): boolean {
    const canonical = canonicalName(name)
    return canonical === this.domain || canonical.endsWith(`.${this.domain}`)
  }

  /**
   * Answers `type` for `name`; undefined when the name is outside the cluster domain. CNAMEs
   * (ExternalName services) are answered for every type but CNAME itself; chasing a target
   * outside the zone is the server's job.
   */
  lookup(name: string, type: number): ClusterAnswer | undefined {
    if (!this.isInZone(name)) return undefined
    const canonical = canonicalName(name)
    const entry = this.entries.get(canonical)
    const negative = { answers: [], authorities: [this.soaRecord()], additionals: [] }
    if (entry === undefined) {
      if (canonical === this.domain && (type === RR_TYPE.SOA || type === RR_TYPE.ANY)) return { rcode: RCODE.NOERROR, answers: [this.soaRecord()], authorities: [], additionals: [] }
      return { rcode: canonical === this.domain || this.parents.has(canonical) ? RCODE.NOERROR : RCODE.NXDOMAIN, ...negative }
    }
    if (entry.cname !== undefined && type !== RR_TYPE.CNAME) {
      const cname = this.record(name, { kind: 'CNAME', target: entry.cname })
      const chased = this.isInZone(entry.cname) ? this.lookup(entry.cname, type) : undefined
      return { rcode: RCODE.NOERROR, answers: [cname, ...(chased?.answers ?? [])], authorities: [], additionals: chased?.additionals ?? [] }
    }
    const answers: ResourceRecord[] = []
    const additionals: ResourceRecord[] = []
    const wants = (wanted: number): boolean => type === wanted || type === RR_TYPE.ANY
    if (wants(RR_TYPE.CNAME) && entry.cname !== undefined) answers.push(this.record(name, { kind: 'CNAME', target: entry.cname }))
    if (wants(RR_TYPE.A)) answers.push(...this.addressRecords(name, entry, 4))
    if (wants(RR_TYPE.AAAA)) answers.push(...this.addressRecords(name, entry, 6))
    if (wants(RR_TYPE.SRV)) {
      const targets = new Set<string>()
      for (const srv of entry.srv) {
        answers.push(this.record(name, { kind: 'SRV', ...srv }))
        targets.add(srv.target)
      }
      for (const target of targets) {
        const targetEntry = this.entries.get(target)
        if (targetEntry !== undefined) additionals.push(...this.addressRecords(target, targetEntry, 4), ...this.addressRecords(target, targetEntry, 6))
      }
    }
    if (answers.length === 0) return { rcode: RCODE.NOERROR, ...negative }
    return { rcode: RCODE.NOERROR, answers, authorities: [], additionals }
  }

  /** The zone's SOA; its minimum (the negative-caching TTL) is the record TTL. */
  soaRecord(): ResourceRecord {
    return this.record(this.domain, {
      kind: 'SOA',
      primary: `ns.dns.${this.domain}`,
      mailbox: `hostmaster.${this.domain}`,
      serial: this.serial,
      refreshSeconds: 7200,
      retrySeconds: 1800,
      expireSeconds: 86400,
      minimumSeconds: this.ttlSeconds,
    })
  }

  private record(name: string, data: RecordData): ResourceRecord {
    return { name, class: CLASS_IN, ttlSeconds: this.ttlSeconds, data }
  }

  private addressRecords(name: string, entry: NameEntry, family: 4 | 6): ResourceRecord[] {
    const addresses = family === 4 ? entry.ipv4 : entry.ipv6
    return [...addresses].map((address) => this.record(name, family === 4 ? { kind: 'A', address } : { kind: 'AAAA', address }))
  }

  /** The entry for `name`, created (with its parents marked) on first use; undefined for names that cannot be written. */
  private entry(name: string): NameEntry | undefined {
    const canonical = canonicalName(name)
    try {
      nameToLabels(canonical)
    } catch {
      return undefined // An object name too long for DNS simply has no record.
    }
    let entry = this.entries.get(canonical)
    if (entry === undefined) {
      entry = { ipv4: new Set(), ipv6: new Set(), srv: [] }
      this.entries.set(canonical, entry)
      for (let parent = canonical; parent.includes('.') && parent !== this.domain; ) {
        parent = parent.slice(parent.indexOf('.') + 1)
        this.parents.add(parent)
      }
    }
    return entry
  }

  private addAddress(name: string, address: string): void {
    const entry = this.entry(name)
    const family = isIP(address)
    if (entry === undefined || family === 0) return
    ;(family === 4 ? entry.ipv4 : entry.ipv6).add(address)
  }

  /** Adds one service's records; returns `publishNotReadyAddresses` for a headless service, else undefined. */
  private addService(service: unknown, slices: readonly unknown[]): boolean | undefined {
    const metadata = fields(fields(service)['metadata'])
    const spec = fields(fields(service)['spec'])
    const serviceName = text(metadata['name'])
    const namespace = text(metadata['namespace'])
    if (serviceName === '' || namespace === '') return undefined
    const base = `${serviceName}.${namespace}.svc.${this.domain}`
    if (spec['type'] === 'ExternalName') {
      const external = canonicalName(text(spec['externalName']))
      const entry = this.entry(base)
      if (entry !== undefined && external !== '') entry.cname = external
      return undefined
    }
    const clusterIps = [...list(spec['clusterIPs']).map(text), text(spec['clusterIP'])].filter((ip) => ip !== '')
    if (clusterIps.includes('None')) {
      const publishNotReady = spec['publishNotReadyAddresses'] === true
      this.addHeadlessEndpoints(base, slices, publishNotReady)
      return publishNotReady
    }
    for (const ip of clusterIps) this.addAddress(base, ip)
    for (const port of list(spec['ports'])) {
      const portName = text(fields(port)['name'])
      const number = fields(port)['port']
      if (portName === '' || typeof number !== 'number') continue
      const protocol = (text(fields(port)['protocol']) || 'TCP').toLowerCase()
      this.entry(`_${portName}._${protocol}.${base}`)?.srv.push({ priority: 0, weight: 100, port: number, target: canonicalName(base) })
    }
    return undefined
  }

  private addHeadlessEndpoints(base: string, slices: readonly unknown[], publishNotReady: boolean): void {
    const srvByName = new Map<string, { port: number; target: string }[]>()
    for (const slice of slices) {
      const ports = list(fields(slice)['ports']).map(fields)
      for (const endpoint of list(fields(slice)['endpoints']).map(fields)) {
        // Kubernetes: an unset ready condition means ready.
        if (!publishNotReady && fields(endpoint['conditions'])['ready'] === false) continue
        const hostname = text(endpoint['hostname'])
        for (const address of list(endpoint['addresses']).map(text)) {
          if (isIP(address) === 0) continue
          const target = canonicalName(`${hostname === '' ? addressLabel(address) : hostname}.${base}`)
          this.addAddress(base, address)
          this.addAddress(target, address)
          for (const port of ports) {
            const portName = text(port['name'])
            if (portName === '' || typeof port['port'] !== 'number') continue
            const srvName = `_${portName}._${(text(port['protocol']) || 'TCP').toLowerCase()}.${base}`
            srvByName.set(srvName, [...(srvByName.get(srvName) ?? []), { port: port['port'], target }])
          }
        }
      }
    }
    for (const [srvName, targets] of srvByName) {
      // As CoreDNS: equal shares of 100 between the endpoints.
      const weight = Math.max(1, Math.floor(100 / targets.length))
      const entry = this.entry(srvName)
      for (const target of targets) entry?.srv.push({ priority: 0, weight, ...target })
    }
  }

  private addPod(pod: unknown, headless: ReadonlyMap<string, boolean>): void {
    const metadata = fields(fields(pod)['metadata'])
    const spec = fields(fields(pod)['spec'])
    const namespace = text(metadata['namespace'])
    if (namespace === '' || podFinished(pod)) return
    const ips = podIps(pod)
    // Host-network pods share the node's address; CoreDNS skips them for pod records too.
    if (spec['hostNetwork'] !== true) for (const ip of ips) this.addAddress(`${addressLabel(ip)}.${namespace}.pod.${this.domain}`, ip)
    const hostname = text(spec['hostname'])
    const subdomain = text(spec['subdomain'])
    const publishNotReady = headless.get(`${namespace}/${subdomain}`)
    if (hostname === '' || subdomain === '' || publishNotReady === undefined) return
    if (!publishNotReady && !podReady(pod)) return
    for (const ip of ips) this.addAddress(`${hostname}.${subdomain}.${namespace}.svc.${this.domain}`, ip)
  }
}
