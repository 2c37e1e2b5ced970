// Goal: Services and Endpoints get Kubernetes' defaults, keep their allocated cluster IP and
// node ports across updates that omit them, and are refused with Kubernetes' field paths and
// reasons when a rule is broken. Method: tables over applyDefaults and validateKind.
import t from 'tap'
import { formatFieldError } from '../../../node/src/api/machinery/field-errors.ts'
import { accepted, defaulted, errorsOf, refused, type Loose } from './kinds-fixtures.ts'

const service = (spec: Loose = {}, name = 'web'): Loose => ({
  apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }], ...spec },
})
const endpoints = (subsets: Loose[]): Loose => ({ apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'web', namespace: 'default' }, subsets })

t.test('Service defaults: ClusterIP, no affinity, TCP, targetPort = port', async (t) => {
  const result = defaulted('Service', service({ ports: [{ name: 'http', port: 80 }, { name: 'metrics', port: 9090, targetPort: 'metrics' }] }))
  t.match(result.spec, { type: 'ClusterIP', sessionAffinity: 'None', internalTrafficPolicy: 'Cluster' })
  t.same(result.spec.ports, [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 80 }, { name: 'metrics', port: 9090, protocol: 'TCP', targetPort: 'metrics' }])
  t.notOk('externalTrafficPolicy' in result.spec, 'only node-port Services route external traffic')
  const nodePort = defaulted('Service', service({ type: 'NodePort' })).spec
  t.equal(nodePort.externalTrafficPolicy, 'Cluster')
  t.equal(defaulted('Service', service({ type: 'LoadBalancer' })).spec.allocateLoadBalancerNodePorts, true)
  t.same(defaulted('Service', service({ sessionAffinity: 'ClientIP' })).spec.sessionAffinityConfig, { clientIP: { timeoutSeconds: 10800 } })
  t.same(defaulted('Service', service({ clusterIP: '10.96.0.10' })).spec.clusterIPs, ['10.96.0.10'], 'clusterIP and clusterIPs agree')
  accepted(t, 'Service', service())
})

t.test('Service ports: required unless headless or ExternalName; valid, named, unique', async (t) => {
  refused(t, 'Service', service({ ports: [] }), { field: 'spec.ports', type: 'FieldValueRequired' })
  accepted(t, 'Service', service({ ports: [], clusterIP: 'None' }), undefined, 'a headless Service needs no ports')
  accepted(t, 'Service', service({ type: 'ExternalName', externalName: 'db.example.com.', ports: [], selector: undefined }), undefined, 'ExternalName needs no ports')
  const errors = errorsOf('Service', service({ ports: [{ port: 0 }] }))
  t.same(errors.map(formatFieldError), [
    'spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive',
    'spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive',
  ], 'the defaulted targetPort inherits the bad port, as in Kubernetes')
  refused(t, 'Service', service({ ports: [{ port: 80 }, { port: 443 }] }), { field: 'spec.ports[0].name', type: 'FieldValueRequired' })
  refused(t, 'Service', service({ ports: [{ name: 'web', port: 80 }, { name: 'web', port: 443 }] }), { field: 'spec.ports[1].name', type: 'FieldValueDuplicate' })
  refused(t, 'Service', service({ ports: [{ name: 'Web', port: 80 }] }), { field: 'spec.ports[0].name', type: 'FieldValueInvalid' })
  refused(t, 'Service', service({ ports: [{ name: 'a', port: 80 }, { name: 'b', port: 80 }] }), { field: 'spec.ports[1]', type: 'FieldValueDuplicate' })
  accepted(t, 'Service', service({ ports: [{ name: 'dns-tcp', port: 53 }, { name: 'dns-udp', port: 53, protocol: 'UDP' }] }), undefined, 'the same port on two protocols')
  refused(t, 'Service', service({ ports: [{ port: 80, protocol: 'HTTP' }] }), { field: 'spec.ports[0].protocol', type: 'FieldValueNotSupported' })
  refused(t, 'Service', service({ ports: [{ port: 80, targetPort: 'HTTP_PORT' }] }), { field: 'spec.ports[0].targetPort', type: 'FieldValueInvalid' })
  refused(t, 'Service', service({ ports: [{ port: 80, targetPort: 65536 }] }), { field: 'spec.ports[0].targetPort', type: 'FieldValueInvalid', detail: 'must be between 1 and 65535, inclusive' })
})

t.test('Service type, affinity, node ports, selector, ExternalName', async (t) => {
  refused(t, 'Service', service({ type: 'Ingress' }), { field: 'spec.type', type: 'FieldValueNotSupported', detail: 'supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"' })
  refused(t, 'Service', service({ sessionAffinity: 'Cookie' }), { field: 'spec.sessionAffinity', type: 'FieldValueNotSupported' })
  refused(t, 'Service', service({ sessionAffinityConfig: { clientIP: { timeoutSeconds: 5 } } }), { field: 'spec.sessionAffinityConfig', type: 'FieldValueForbidden' })
  refused(t, 'Service', service({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 100000 } } }), { field: 'spec.sessionAffinityConfig.clientIP.timeoutSeconds', type: 'FieldValueInvalid' })
  refused(t, 'Service', service({ ports: [{ port: 80, nodePort: 30080 }] }), { field: 'spec.ports[0].nodePort', type: 'FieldValueForbidden', detail: "may not be used when `type` is 'ClusterIP'" })
  refused(t, 'Service', service({ type: 'NodePort', ports: [{ port: 80, nodePort: 8080 }] }), {
    field: 'spec.ports[0].nodePort', type: 'FieldValueInvalid', detail: 'provided port is not in the valid range. The range of valid ports is 30000-32767',
  })
  refused(t, 'Service', service({ type: 'NodePort', ports: [{ name: 'a', port: 80, nodePort: 30080 }, { name: 'b', port: 81, nodePort: 30080 }] }), { field: 'spec.ports[1].nodePort', type: 'FieldValueDuplicate' })
  refused(t, 'Service', service({ type: 'NodePort', clusterIP: 'None' }), { field: 'spec.clusterIP', type: 'FieldValueInvalid', detail: "may not be set to 'None' for NodePort services" })
  refused(t, 'Service', service({ type: 'NodePort', externalTrafficPolicy: 'Nearest' }), { field: 'spec.externalTrafficPolicy', type: 'FieldValueNotSupported' })
  refused(t, 'Service', service({ selector: { 'app name': 'web' } }), { field: 'spec.selector', type: 'FieldValueInvalid' })
  refused(t, 'Service', service({ clusterIP: '10.96.0.300' }), { field: 'spec.clusterIPs[0]', type: 'FieldValueInvalid', detail: 'must be a valid IP address' })
  refused(t, 'Service', service({ type: 'ExternalName', ports: [] }), { field: 'spec.externalName', type: 'FieldValueRequired' })
  refused(t, 'Service', service({ type: 'ExternalName', externalName: 'Not A Name' }), { field: 'spec.externalName', type: 'FieldValueInvalid' })
  refused(t, 'Service', service({ type: 'ExternalName', externalName: 'db.example.com', clusterIP: '10.96.0.9' }), { field: 'spec.clusterIPs', type: 'FieldValueForbidden' })
  refused(t, 'Service', service({}, '1web'), { field: 'metadata.name', type: 'FieldValueInvalid', detail: 'DNS-1035 label' })
  accepted(t, 'Service', service({ type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }], externalTrafficPolicy: 'Local' }))
})

t.test('Service updates keep the cluster IP: omitted values are carried over, changes refused', async (t) => {
  const stored = defaulted('Service', service({ type: 'NodePort', clusterIP: '10.96.0.10', ports: [{ port: 80, nodePort: 30080 }] }))
  const replaced = defaulted('Service', service({ type: 'NodePort' }), stored)
  t.equal(replaced.spec.clusterIP, '10.96.0.10', 'kubectl replace with the original manifest keeps the IP')
  t.equal(replaced.spec.ports[0].nodePort, 30080, 'and the node port')
  accepted(t, 'Service', service({ type: 'NodePort' }), stored)
  refused(t, 'Service', service({ type: 'NodePort', clusterIP: '10.96.0.11' }), { field: 'spec.clusterIP', type: 'FieldValueInvalid', detail: 'field is immutable' }, stored)
  accepted(t, 'Service', service({ type: 'ExternalName', externalName: 'web.example.com', ports: [] }), stored, 'turning into an ExternalName drops the IP')
})

t.test('Endpoints: TCP by default; addresses with valid IPs; valid, named ports', async (t) => {
  const ready = [{ addresses: [{ ip: '10.244.1.5', nodeName: 'node-1' }], ports: [{ port: 8080 }] }]
  t.equal(defaulted('Endpoints', endpoints(ready)).subsets[0].ports[0].protocol, 'TCP')
  accepted(t, 'Endpoints', endpoints(ready))
  accepted(t, 'Endpoints', endpoints([{ addresses: [{ ip: '127.0.0.1' }], ports: [{ port: 80 }] }]), undefined, 'loopback endpoints are allowed in Flotilla')
  refused(t, 'Endpoints', endpoints([{ addresses: [{ ip: '10.0.0.256' }] }]), { field: 'subsets[0].addresses[0].ip', type: 'FieldValueInvalid', detail: 'must be a valid IP address' })
  refused(t, 'Endpoints', endpoints([{ notReadyAddresses: [{ ip: 'fe80::1', hostname: 'Web_0' }] }]), { field: 'subsets[0].notReadyAddresses[0].hostname', type: 'FieldValueInvalid' })
  refused(t, 'Endpoints', endpoints([{ ports: [{ port: 80 }] }]), { field: 'subsets[0]', type: 'FieldValueRequired', detail: 'must specify `addresses` or `notReadyAddresses`' })
  refused(t, 'Endpoints', endpoints([{ addresses: [{ ip: '10.0.0.1' }], ports: [{ port: 0 }] }]), { field: 'subsets[0].ports[0].port', type: 'FieldValueInvalid' })
  refused(t, 'Endpoints', endpoints([{ addresses: [{ ip: '10.0.0.1' }], ports: [{ port: 80 }, { port: 81 }] }]), { field: 'subsets[0].ports[0].name', type: 'FieldValueRequired' })
  refused(t, 'Endpoints', endpoints([{ addresses: [{ ip: '10.0.0.1' }], ports: [{ port: 80, protocol: 'QUIC' }] }]), { field: 'subsets[0].ports[0].protocol', type: 'FieldValueNotSupported' })
})
