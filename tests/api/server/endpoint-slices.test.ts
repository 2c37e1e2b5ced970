// Goal: EndpointSlices (discovery.k8s.io/v1) are served like on kube-apiserver: discovered under
// their group, created with port defaults (name "", protocol TCP), refused with Kubernetes' field
// paths and reasons (address type required, supported and immutable; 1–100 addresses valid for
// the type; boolean conditions; ports unique, named as DNS labels, with a known protocol and a
// port number; at most 1000 endpoints), selected by the `kubernetes.io/service-name` label, and
// printed by `kubectl get` as NAME ADDRESSTYPE PORTS ENDPOINTS AGE.
// Method: rule tables over applyDefaults/validateKind, then an ApiHandler over an in-process store
// (api-harness.ts) driven over HTTP on 127.0.0.1.
import t, { type Test } from 'tap'
import { buildTable } from '../../../node/src/api/server/table-columns.ts'
import { ApiHarness } from './api-harness.ts'
import { accepted, defaulted, refused, type Loose } from './kinds-fixtures.ts'

const SLICES = '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices'
const TABLE = { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' }

function slice(fields: Loose = {}, name = 'web-abcde'): Loose {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'node-a', zone: 'zone-1', targetRef: { kind: 'Pod', namespace: 'default', name: 'web-1' } }],
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    ...fields,
  }
}

const endpoint = (addresses: unknown[], extra: Loose = {}): Loose => ({ addresses, ...extra })

t.test('defaults: every port gets a name and a protocol', async (t) => {
  const result = defaulted('EndpointSlice', slice({ ports: [{ port: 80 }, { name: 'dns', port: 53, protocol: 'UDP' }] }))
  t.same(result.ports, [{ name: '', port: 80, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }])
  accepted(t, 'EndpointSlice', slice())
  accepted(t, 'EndpointSlice', slice({ endpoints: [], ports: [] }), undefined, 'a placeholder without endpoints or ports is valid')
  accepted(t, 'EndpointSlice', slice({ ports: [{ name: 'all' }] }), undefined, 'a port without a number means every port')
})

t.test('address type: required, supported, immutable; addresses valid for it', async (t) => {
  refused(t, 'EndpointSlice', slice({ addressType: undefined }), { field: 'addressType', type: 'FieldValueRequired' })
  refused(t, 'EndpointSlice', slice({ addressType: 'IP' }), { field: 'addressType', type: 'FieldValueNotSupported', detail: 'supported values: "FQDN", "IPv4", "IPv6"' })
  refused(t, 'EndpointSlice', slice({ addressType: 'IPv6' }), { field: 'addressType', type: 'FieldValueInvalid', detail: 'field is immutable' }, slice())
  refused(t, 'EndpointSlice', slice({ endpoints: [endpoint(['10.0.0.256'])] }), { field: 'endpoints[0].addresses[0]', type: 'FieldValueInvalid', detail: 'must be a valid IPv4 address' })
  refused(t, 'EndpointSlice', slice({ endpoints: [endpoint(['fd00::1'])] }), { field: 'endpoints[0].addresses[0]', type: 'FieldValueInvalid', detail: 'must be a valid IPv4 address' })
  accepted(t, 'EndpointSlice', slice({ addressType: 'IPv6', endpoints: [endpoint(['fd00::1'])] }))
  refused(t, 'EndpointSlice', slice({ addressType: 'IPv6', endpoints: [endpoint(['::ffff:10.0.0.1'])] }), { field: 'endpoints[0].addresses[0]', type: 'FieldValueInvalid', detail: 'must be a valid IPv6 address' })
  refused(t, 'EndpointSlice', slice({ addressType: 'IPv6', endpoints: [endpoint(['10.0.0.1'])] }), { field: 'endpoints[0].addresses[0]', type: 'FieldValueInvalid', detail: 'must be a valid IPv6 address' })
  accepted(t, 'EndpointSlice', slice({ addressType: 'FQDN', endpoints: [endpoint(['db.example.com', 'db.example.com.'])] }))
  refused(t, 'EndpointSlice', slice({ addressType: 'FQDN', endpoints: [endpoint(['localhost'])] }), { field: 'endpoints[0].addresses[0]', type: 'FieldValueInvalid', detail: 'at least two segments' })
  refused(t, 'EndpointSlice', slice({ addressType: 'FQDN', endpoints: [endpoint(['Db.example.com'])] }), { field: 'endpoints[0].addresses[0]', type: 'FieldValueInvalid', detail: 'RFC 1123 subdomain' })
})

t.test('endpoints: 1 to 100 addresses, boolean conditions, names, topology, at most 1000', async (t) => {
  refused(t, 'EndpointSlice', slice({ endpoints: [endpoint([])] }), { field: 'endpoints[0].addresses', type: 'FieldValueRequired', detail: 'must contain at least 1 address' })
  const many = Array.from({ length: 101 }, (_, i) => `10.0.${Math.floor(i / 200)}.${(i % 200) + 1}`)
  refused(t, 'EndpointSlice', slice({ endpoints: [endpoint(many)] }), { field: 'endpoints[0].addresses', type: 'FieldValueTooMany', detail: 'must have at most 100 items' })
  accepted(t, 'EndpointSlice', slice({ endpoints: [endpoint(many.slice(0, 100))] }))
  refused(t, 'EndpointSlice', slice({ endpoints: [endpoint(['10.0.0.1'], { conditions: { ready: 'yes' } })] }), { field: 'endpoints[0].conditions.ready', type: 'FieldValueInvalid', detail: 'must be a boolean' })
  refused(t, 'EndpointSlice', slice({ endpoints: [endpoint(['10.0.0.1'], { hostname: 'Web_1' })] }), { field: 'endpoints[0].hostname', type: 'FieldValueInvalid', detail: 'RFC 1123 label' })
  refused(t, 'EndpointSlice', slice({ endpoints: [endpoint(['10.0.0.1'], { nodeName: 'Node A' })] }), { field: 'endpoints[0].nodeName', type: 'FieldValueInvalid', detail: 'RFC 1123 subdomain' })
  refused(t, 'EndpointSlice', slice({ endpoints: [endpoint(['10.0.0.1'], { deprecatedTopology: { 'topology.kubernetes.io/zone': 'z1' } })] }), {
    field: 'endpoints[0].deprecatedTopology[topology.kubernetes.io/zone]', type: 'InternalError', detail: 'reserved key, use zone instead',
  })
  refused(t, 'EndpointSlice', slice({ endpoints: [endpoint(['10.0.0.1'], { hints: { forZones: [{ name: 'z1' }, { name: 'z1' }] } })] }), { field: 'endpoints[0].hints.forZones[1].name', type: 'FieldValueDuplicate' })
  const thousandAndOne = Array.from({ length: 1001 }, (_, i) => endpoint([`10.${Math.floor(i / 250)}.0.${(i % 250) + 1}`]))
  refused(t, 'EndpointSlice', slice({ endpoints: thousandAndOne }), { field: 'endpoints', type: 'FieldValueTooMany', detail: 'must have at most 1000 items' })
  accepted(t, 'EndpointSlice', slice({ endpoints: thousandAndOne.slice(0, 1000) }))
})

t.test('ports: unique DNS-label names, known protocols, port numbers in range, qualified appProtocol', async (t) => {
  refused(t, 'EndpointSlice', slice({ ports: [{ name: 'http', port: 80 }, { name: 'http', port: 81 }] }), { field: 'ports[1].name', type: 'FieldValueDuplicate' })
  refused(t, 'EndpointSlice', slice({ ports: [{ port: 80 }, { port: 81 }] }), { field: 'ports[1].name', type: 'FieldValueDuplicate' })
  refused(t, 'EndpointSlice', slice({ ports: [{ name: 'HTTP', port: 80 }] }), { field: 'ports[0].name', type: 'FieldValueInvalid', detail: 'RFC 1123 label' })
  refused(t, 'EndpointSlice', slice({ ports: [{ name: 'http', port: 80, protocol: 'ICMP' }] }), { field: 'ports[0].protocol', type: 'FieldValueNotSupported' })
  refused(t, 'EndpointSlice', slice({ ports: [{ name: 'http', port: 70000 }] }), { field: 'ports[0].port', type: 'FieldValueInvalid', detail: 'must be between 1 and 65535, inclusive' })
  refused(t, 'EndpointSlice', slice({ ports: [{ name: 'http', port: 80, appProtocol: 'not a name' }] }), { field: 'ports[0].appProtocol', type: 'FieldValueInvalid' })
  accepted(t, 'EndpointSlice', slice({ ports: [{ name: 'http', port: 80, appProtocol: 'kubernetes.io/h2c' }] }))
})

t.test('Table: NAME ADDRESSTYPE PORTS ENDPOINTS AGE, three values and "more"', async (t) => {
  const now = Date.parse('2024-01-01T00:10:00Z')
  const object = slice({
    endpoints: [endpoint(['10.0.0.1']), endpoint(['10.0.0.2', '10.0.0.3']), endpoint(['10.0.0.4']), endpoint(['10.0.0.5'])],
    ports: [{ name: 'a', port: 80 }, { name: 'b', port: 81 }, { name: 'c', port: 82 }, { name: 'named' }],
  })
  object.metadata.creationTimestamp = '2024-01-01T00:00:00Z'
  const table = buildTable('EndpointSlice', [object, slice({ endpoints: [], ports: [] }, 'web-empty')], '1', now) as Loose
  t.same(table.columnDefinitions.map((column: Loose) => column.name), ['Name', 'AddressType', 'Ports', 'Endpoints', 'Age'])
  t.same(table.rows[0].cells, ['web-abcde', 'IPv4', '80,81,82 + 1 more...', '10.0.0.1,10.0.0.2,10.0.0.3 + 2 more...', '10m'])
  t.same(table.rows[1].cells.slice(0, 4), ['web-empty', 'IPv4', '<unset>', '<unset>'], 'empty lists print <unset>')
  const named = buildTable('EndpointSlice', [slice({ ports: [{ name: 'named' }, {}] })], '1', now) as Loose
  t.equal(named.rows[0].cells[2], 'named,*', 'a port without a number prints its name, else *')
})

async function harness(t: Test): Promise<ApiHarness> {
  const api = await new ApiHarness().start()
  t.teardown(() => api.stop())
  return api
}

t.test('over HTTP: discovery, create with defaults, 422 with causes, label selection, Table', async (t) => {
  const api = await harness(t)
  const groups = (await api.get('/apis')).json
  t.ok(groups.groups.some((group: Loose) => group.name === 'discovery.k8s.io' && group.preferredVersion.groupVersion === 'discovery.k8s.io/v1'), '/apis lists discovery.k8s.io')
  const resources = (await api.get('/apis/discovery.k8s.io/v1')).json
  t.same(resources.resources.map((resource: Loose) => [resource.name, resource.kind, resource.namespaced, resource.shortNames ?? []]), [['endpointslices', 'EndpointSlice', true, []]])
  t.same(resources.resources[0].verbs, ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'])

  const created = await api.post(SLICES, slice({ ports: [{ port: 8080 }] }))
  t.equal(created.status, 201, created.text)
  t.same(created.json.ports, [{ name: '', port: 8080, protocol: 'TCP' }], 'stored with the port defaults')
  t.equal(created.json.apiVersion, 'discovery.k8s.io/v1')

  const refusedReply = await api.post(SLICES, slice({ addressType: 'IPv5', endpoints: [endpoint([])] }, 'web-bad'))
  t.equal(refusedReply.status, 422)
  t.equal(refusedReply.json.reason, 'Invalid')
  t.equal(refusedReply.json.details.group, 'discovery.k8s.io')
  t.equal(refusedReply.json.details.kind, 'EndpointSlice')
  t.same(refusedReply.json.details.causes.map((cause: Loose) => [cause.reason, cause.field]), [['FieldValueNotSupported', 'addressType'], ['FieldValueRequired', 'endpoints[0].addresses']])
  t.match(refusedReply.json.message, /EndpointSlice.discovery.k8s.io "web-bad" is invalid/)

  const immutable = await api.patch(`${SLICES}/web-abcde`, { addressType: 'IPv6', endpoints: [] })
  t.equal(immutable.status, 422, 'the address type cannot change')
  t.match(immutable.json.message, /addressType: Invalid value: "IPv6": field is immutable/)

  t.equal((await api.post(SLICES, slice({}, 'api-xyz12'))).status, 201)
  const relabel = await api.patch(`${SLICES}/api-xyz12`, { metadata: { labels: { 'kubernetes.io/service-name': 'api' } } })
  t.equal(relabel.status, 200, relabel.text)
  const selected = (await api.get(`${SLICES}?labelSelector=${encodeURIComponent('kubernetes.io/service-name=web')}`)).json
  t.same(selected.items.map((item: Loose) => item.metadata.name), ['web-abcde'], 'a service\'s slices are found by the service-name label')
  t.equal(selected.kind, 'EndpointSliceList')

  const table = (await api.get(SLICES, TABLE)).json
  t.equal(table.kind, 'Table')
  t.same(table.columnDefinitions.map((column: Loose) => column.name), ['Name', 'AddressType', 'Ports', 'Endpoints', 'Age'])
  t.same(table.rows.map((row: Loose) => row.cells.slice(0, 4)), [['api-xyz12', 'IPv4', '8080', '10.0.0.1'], ['web-abcde', 'IPv4', '8080', '10.0.0.1']])
  const all = (await api.get('/apis/discovery.k8s.io/v1/endpointslices')).json
  t.equal(all.items.length, 2, 'listed across namespaces')
})
