/**
 * The cluster zone (ClusterRecords) for every record kind the Kubernetes DNS specification names,
 * and the resolver configuration per dnsPolicy (resolv-conf.ts).
 */
import t from 'tap'
import { InvalidConfigError } from '../../lib/errors.ts'
import { ClusterRecords, type ClusterRecordsInputs } from '../../network/src/dns/cluster-records.ts'
import { effectiveDnsPolicy, parseResolvConf, podResolverConfig, renderResolvConf, type NodeDnsFacts } from '../../network/src/dns/resolv-conf.ts'
import { RCODE, RR_TYPE, type RecordData, type ResourceRecord } from '../../network/src/dns/wire.ts'

function service(namespace: string, name: string, spec: Record<string, unknown>): unknown {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace, name }, spec }
}

function slice(namespace: string, serviceName: string, ports: unknown[], endpoints: unknown[]): unknown {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace, name: `${serviceName}-x1`, labels: { 'kubernetes.io/service-name': serviceName } },
    addressType: 'IPv4',
    ports,
    endpoints,
  }
}

function pod(namespace: string, name: string, ip: string, extra: { hostname?: string; subdomain?: string; ready?: boolean; phase?: string; hostNetwork?: boolean } = {}): unknown {
  return {
    metadata: { namespace, name },
    spec: { ...(extra.hostname === undefined ? {} : { hostname: extra.hostname }), ...(extra.subdomain === undefined ? {} : { subdomain: extra.subdomain }), hostNetwork: extra.hostNetwork ?? false },
    status: { phase: extra.phase ?? 'Running', podIP: ip, podIPs: [{ ip }], conditions: [{ type: 'Ready', status: extra.ready === false ? 'False' : 'True' }] },
  }
}

const INPUTS: ClusterRecordsInputs = {
  services: [
    service('default', 'web', {
      type: 'ClusterIP',
      clusterIP: '10.96.0.10',
      clusterIPs: ['10.96.0.10', 'fd00::10'],
      ports: [
        { name: 'http', port: 80, protocol: 'TCP' },
        { name: 'dns', port: 53, protocol: 'UDP' },
        { port: 8080, protocol: 'TCP' },
      ],
    }),
    service('default', 'db', { clusterIP: 'None', ports: [{ name: 'pg', port: 5432 }] }),
    service('default', 'peers', { clusterIP: 'None', publishNotReadyAddresses: true }),
    service('default', 'ext', { type: 'ExternalName', externalName: 'Example.ORG.' }),
    service('default', 'alias', { type: 'ExternalName', externalName: 'web.default.svc.cluster.local' }),
    service('other', 'web', { clusterIP: '10.96.5.5' }),
  ],
  endpointSlices: [
    slice('default', 'db', [{ name: 'pg', port: 5432, protocol: 'TCP' }], [
      { addresses: ['10.244.1.5'], hostname: 'db-0', conditions: { ready: true } },
      { addresses: ['10.244.2.7'], conditions: {} },
      { addresses: ['10.244.3.9'], hostname: 'db-2', conditions: { ready: false } },
    ]),
    slice('default', 'peers', [], [{ addresses: ['10.244.3.3'], conditions: { ready: false } }]),
  ],
  pods: [
    pod('default', 'db-0', '10.244.1.5', { hostname: 'db-0', subdomain: 'db' }),
    pod('default', 'db-3', '10.244.1.8', { hostname: 'db-3', subdomain: 'db' }),
    pod('default', 'db-4', '10.244.1.9', { hostname: 'db-4', subdomain: 'db', ready: false }),
    pod('default', 'peer-0', '10.244.2.9', { hostname: 'peer-0', subdomain: 'peers', ready: false }),
    pod('default', 'loner', '10.244.2.10', { hostname: 'loner', subdomain: 'web' }),
    pod('default', 'done', '10.244.2.11', { phase: 'Succeeded' }),
    pod('kube-system', 'hostnet', '192.168.1.10', { hostNetwork: true }),
  ],
}

const records = new ClusterRecords(INPUTS)

function data(answers: readonly ResourceRecord[] | undefined): RecordData[] {
  return (answers ?? []).map((record) => record.data)
}

function addresses(name: string, type: number = RR_TYPE.A): string[] {
  return data(records.lookup(name, type)?.answers).map((record) => (record.kind === 'A' || record.kind === 'AAAA' ? record.address : `not an address: ${record.kind}`))
}

t.test('service A and AAAA records are the cluster IPs; names are case-insensitive; TTL 5 s', async (t) => {
  const answer = records.lookup('web.default.svc.cluster.local', RR_TYPE.A)
  t.equal(answer?.rcode, RCODE.NOERROR)
  t.same(data(answer?.answers), [{ kind: 'A', address: '10.96.0.10' }])
  t.equal(answer?.answers[0]?.ttlSeconds, 5)
  t.equal(answer?.answers[0]?.name, 'web.default.svc.cluster.local')
  t.same(addresses('WEB.Default.SVC.cluster.local.'), ['10.96.0.10'])
  t.same(addresses('web.default.svc.cluster.local', RR_TYPE.AAAA), ['fd00::10'])
  t.same(addresses('web.other.svc.cluster.local'), ['10.96.5.5'], 'namespaces are separate')
})

t.test('SRV records for named ports of a ClusterIP service target the service name', async (t) => {
  const answer = records.lookup('_http._tcp.web.default.svc.cluster.local', RR_TYPE.SRV)
  t.same(data(answer?.answers), [{ kind: 'SRV', priority: 0, weight: 100, port: 80, target: 'web.default.svc.cluster.local' }])
  t.same(data(answer?.additionals), [{ kind: 'A', address: '10.96.0.10' }, { kind: 'AAAA', address: 'fd00::10' }], 'the target addresses come along')
  t.same(data(records.lookup('_dns._udp.web.default.svc.cluster.local', RR_TYPE.SRV)?.answers), [{ kind: 'SRV', priority: 0, weight: 100, port: 53, target: 'web.default.svc.cluster.local' }])
  t.equal(records.lookup('_dns._tcp.web.default.svc.cluster.local', RR_TYPE.SRV)?.rcode, RCODE.NXDOMAIN, 'the protocol is part of the name')
  t.equal(records.lookup('_http._tcp.web.default.svc.cluster.local', RR_TYPE.A)?.answers.length, 0, 'SRV names have no A records')
})

t.test('a headless service answers with its ready endpoints, each with a hostname record and an SRV record', async (t) => {
  t.same(addresses('db.default.svc.cluster.local').sort(), ['10.244.1.5', '10.244.2.7'], 'not-ready 10.244.3.9 is left out; an unset ready counts as ready')
  t.same(addresses('db-0.db.default.svc.cluster.local'), ['10.244.1.5'])
  t.same(addresses('10-244-2-7.db.default.svc.cluster.local'), ['10.244.2.7'], 'an endpoint without hostname is named by its address')
  t.equal(records.lookup('db-2.db.default.svc.cluster.local', RR_TYPE.A)?.rcode, RCODE.NXDOMAIN, 'a not-ready endpoint has no name')
  const srv = records.lookup('_pg._tcp.db.default.svc.cluster.local', RR_TYPE.SRV)
  t.same(data(srv?.answers), [
    { kind: 'SRV', priority: 0, weight: 50, port: 5432, target: 'db-0.db.default.svc.cluster.local' },
    { kind: 'SRV', priority: 0, weight: 50, port: 5432, target: '10-244-2-7.db.default.svc.cluster.local' },
  ])
  t.same(srv?.additionals.map((record) => [record.name, record.data]), [
    ['db-0.db.default.svc.cluster.local', { kind: 'A', address: '10.244.1.5' }],
    ['10-244-2-7.db.default.svc.cluster.local', { kind: 'A', address: '10.244.2.7' }],
  ])
  t.same(addresses('peers.default.svc.cluster.local'), ['10.244.3.3'], 'publishNotReadyAddresses lists not-ready endpoints')
})

t.test('StatefulSet-style pod hostnames: hostname.subdomain for ready pods under a headless service', async (t) => {
  t.same(addresses('db-3.db.default.svc.cluster.local'), ['10.244.1.8'], 'from the pod, even before its endpoint is listed')
  t.equal(records.lookup('db-4.db.default.svc.cluster.local', RR_TYPE.A)?.rcode, RCODE.NXDOMAIN, 'a not-ready pod has none')
  t.same(addresses('peer-0.peers.default.svc.cluster.local'), ['10.244.2.9'], 'unless the service publishes not-ready addresses')
  t.equal(records.lookup('loner.web.default.svc.cluster.local', RR_TYPE.A)?.rcode, RCODE.NXDOMAIN, 'the subdomain must be a headless service')
})

t.test('pod records: a-b-c-d.<ns>.pod.<domain> for pods that have the address in that namespace', async (t) => {
  t.same(addresses('10-244-1-5.default.pod.cluster.local'), ['10.244.1.5'])
  t.equal(records.lookup('10-244-1-5.other.pod.cluster.local', RR_TYPE.A)?.rcode, RCODE.NXDOMAIN, 'verified: wrong namespace')
  t.equal(records.lookup('10-244-2-11.default.pod.cluster.local', RR_TYPE.A)?.rcode, RCODE.NXDOMAIN, 'finished pods have no record')
  t.equal(records.lookup('192-168-1-10.kube-system.pod.cluster.local', RR_TYPE.A)?.rcode, RCODE.NXDOMAIN, 'host-network pods have none')
})

t.test('ExternalName services are CNAMEs, chased inside the zone', async (t) => {
  t.same(data(records.lookup('ext.default.svc.cluster.local', RR_TYPE.A)?.answers), [{ kind: 'CNAME', target: 'example.org' }])
  t.same(data(records.lookup('ext.default.svc.cluster.local', RR_TYPE.CNAME)?.answers), [{ kind: 'CNAME', target: 'example.org' }])
  t.same(data(records.lookup('alias.default.svc.cluster.local', RR_TYPE.A)?.answers), [
    { kind: 'CNAME', target: 'web.default.svc.cluster.local' },
    { kind: 'A', address: '10.96.0.10' },
  ])
})

t.test('negative answers: NXDOMAIN for missing names, NODATA for parents and other types, both with the SOA', async (t) => {
  const missing = records.lookup('nope.default.svc.cluster.local', RR_TYPE.A)
  t.equal(missing?.rcode, RCODE.NXDOMAIN)
  t.same(missing?.answers, [])
  t.equal(missing?.authorities[0]?.data.kind, 'SOA')
  t.equal(missing?.authorities[0]?.name, 'cluster.local')
  for (const parent of ['default.svc.cluster.local', 'svc.cluster.local', '_tcp.web.default.svc.cluster.local', 'default.pod.cluster.local', 'cluster.local']) {
    const answer = records.lookup(parent, RR_TYPE.A)
    t.equal(answer?.rcode, RCODE.NOERROR, `${parent} exists`)
    t.same(answer?.answers, [], `${parent} has no A`)
    t.equal(answer?.authorities[0]?.data.kind, 'SOA')
  }
  t.equal(records.lookup('web.default.svc.cluster.local', RR_TYPE.TXT)?.rcode, RCODE.NOERROR, 'NODATA for an unknown type')
  t.same(data(records.lookup('cluster.local', RR_TYPE.SOA)?.answers).map((record) => record.kind), ['SOA'], 'the apex has the SOA')
  t.equal(records.lookup('example.org', RR_TYPE.A), undefined, 'outside the zone: not ours')
  t.equal(records.lookup('notcluster.local', RR_TYPE.A), undefined, 'a suffix match needs a label boundary')
})

t.test('ANY collects every type of a name', async (t) => {
  t.same(data(records.lookup('web.default.svc.cluster.local', RR_TYPE.ANY)?.answers), [{ kind: 'A', address: '10.96.0.10' }, { kind: 'AAAA', address: 'fd00::10' }])
})

t.test('the cluster domain is configurable and validated', async (t) => {
  const custom = new ClusterRecords({ ...INPUTS, clusterDomain: 'Corp.Example.' })
  t.same(data(custom.lookup('web.default.svc.corp.example', RR_TYPE.A)?.answers), [{ kind: 'A', address: '10.96.0.10' }])
  t.equal(custom.lookup('web.default.svc.cluster.local', RR_TYPE.A), undefined)
  t.throws(() => new ClusterRecords({ ...INPUTS, clusterDomain: 'bad..domain' }), InvalidConfigError)
  t.throws(() => new ClusterRecords({ ...INPUTS, clusterDomain: '' }), InvalidConfigError)
  t.throws(() => new ClusterRecords({ ...INPUTS, ttlSeconds: -1 }), InvalidConfigError)
})

t.test('garbage objects are skipped, not fatal', async (t) => {
  const tolerant = new ClusterRecords({ services: [null, 7, { metadata: {} }, service('default', 'x'.repeat(70), { clusterIP: '10.96.0.99' })], endpointSlices: [{}, 'slice'], pods: [{ status: { podIP: 'nonsense' }, metadata: { namespace: 'default' } }] })
  t.equal(tolerant.lookup('cluster.local', RR_TYPE.SOA)?.answers.length, 1)
})

// ---------------------------------------------------------------------------------------------
// resolv.conf

const HOST_RESOLV = 'nameserver 192.168.1.1\n# comment\nnameserver 192.168.1.2 ; trailing\nsearch corp.example lab.example\noptions edns0 timeout:2\n'
const NODE: NodeDnsFacts = { clusterDnsServers: ['10.250.0.1'], clusterDomain: 'cluster.local', host: parseResolvConf(HOST_RESOLV) }

function podWith(spec: Record<string, unknown>, namespace = 'shop'): unknown {
  return { metadata: { namespace, name: 'p' }, spec }
}

t.test('resolv.conf parses and renders', async (t) => {
  t.same(NODE.host, { servers: ['192.168.1.1', '192.168.1.2'], searches: ['corp.example', 'lab.example'], options: ['edns0', 'timeout:2'] })
  t.equal(renderResolvConf(NODE.host), 'nameserver 192.168.1.1\nnameserver 192.168.1.2\nsearch corp.example lab.example\noptions edns0 timeout:2\n')
  t.same(parseResolvConf(renderResolvConf(NODE.host)), NODE.host)
  t.same(parseResolvConf('domain a.example\nsearch b.example\n').searches, ['b.example'], 'the last search/domain line wins')
  t.equal(renderResolvConf({ servers: [], searches: [], options: [] }), '')
})

t.test('ClusterFirst: the node DNS, the namespace search path then the host search, ndots:5', async (t) => {
  t.equal(effectiveDnsPolicy(podWith({})), 'ClusterFirst', 'the default')
  t.same(podResolverConfig(podWith({ dnsPolicy: 'ClusterFirst' }), NODE), {
    servers: ['10.250.0.1'],
    searches: ['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'corp.example', 'lab.example'],
    options: ['ndots:5'],
  })
})

t.test('host-network pods: ClusterFirst falls back to Default, ClusterFirstWithHostNet keeps the cluster DNS', async (t) => {
  t.same(podResolverConfig(podWith({ hostNetwork: true }), NODE), NODE.host)
  t.same(podResolverConfig(podWith({ hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' }), NODE).servers, ['10.250.0.1'])
  t.same(podResolverConfig(podWith({ dnsPolicy: 'ClusterFirstWithHostNet' }), NODE).searches[0], 'shop.svc.cluster.local')
})

t.test('Default is the node resolv.conf', async (t) => {
  t.same(podResolverConfig(podWith({ dnsPolicy: 'Default' }), NODE), NODE.host)
})

t.test('None takes only dnsConfig; dnsConfig merges into the others', async (t) => {
  const dnsConfig = { nameservers: ['1.1.1.1'], searches: ['extra.example'], options: [{ name: 'ndots', value: '2' }, { name: 'single-request' }, { value: 'nameless' }] }
  t.same(podResolverConfig(podWith({ dnsPolicy: 'None', dnsConfig }), NODE), { servers: ['1.1.1.1'], searches: ['extra.example'], options: ['ndots:2', 'single-request'] })
  t.same(podResolverConfig(podWith({ dnsPolicy: 'None' }), NODE), { servers: [], searches: [], options: [] })
  const merged = podResolverConfig(podWith({ dnsConfig: { ...dnsConfig, nameservers: ['10.250.0.1', '1.1.1.1'], searches: ['svc.cluster.local', 'extra.example'] } }), NODE)
  t.same(merged.servers, ['10.250.0.1', '1.1.1.1'], 'appended without duplicates')
  t.same(merged.searches, ['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'corp.example', 'lab.example', 'extra.example'])
  t.same(merged.options, ['ndots:2', 'single-request'], 'ndots replaced in place')
})

t.test("kubelet's limits: 3 nameservers, 32 searches, 2048 characters", async (t) => {
  const many = podResolverConfig(podWith({ dnsPolicy: 'None', dnsConfig: { nameservers: ['1.0.0.1', '1.0.0.2', '1.0.0.3', '1.0.0.4'], searches: Array.from({ length: 40 }, (_, index) => `s${index}.example`) } }), NODE)
  t.same(many.servers, ['1.0.0.1', '1.0.0.2', '1.0.0.3'])
  t.equal(many.searches.length, 32)
  const long = podResolverConfig(podWith({ dnsPolicy: 'None', dnsConfig: { searches: Array.from({ length: 20 }, (_, index) => `${'x'.repeat(200)}${index}.example`) } }), NODE)
  t.ok(long.searches.join(' ').length <= 2048, `kept ${long.searches.length} long searches`)
  t.ok(long.searches.length < 20)
})
