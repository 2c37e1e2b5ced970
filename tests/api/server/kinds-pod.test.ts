// Goal: Pods (and every pod template) get the defaults Kubernetes fills in, their QoS class, and
// are refused with Kubernetes' field paths, reasons and messages when a PodSpec rule is broken.
// Method: tables over applyDefaults and validateKind; each rule has a failing case.
import t from 'tap'
import { formatFieldError } from '../../../node/src/api/machinery/field-errors.ts'
import { accepted, container, defaulted, errorsOf, pod, refused, type Loose } from './kinds-fixtures.ts'

t.test('a minimal Pod gets the PodSpec, container and status defaults', async (t) => {
  const result = defaulted('Pod', pod({ containers: [container({ ports: [{ containerPort: 8080 }] })] }))
  t.match(result.spec, {
    restartPolicy: 'Always',
    dnsPolicy: 'ClusterFirst',
    terminationGracePeriodSeconds: 30,
    schedulerName: 'default-scheduler',
    securityContext: {},
    enableServiceLinks: true,
  })
  t.match(result.spec.containers[0], {
    terminationMessagePath: '/dev/termination-log',
    terminationMessagePolicy: 'File',
    imagePullPolicy: 'IfNotPresent',
    resources: {},
    ports: [{ containerPort: 8080, protocol: 'TCP' }],
  })
  t.same(result.status, { phase: 'Pending', qosClass: 'BestEffort' })
  accepted(t, 'Pod', pod())
})

t.test('the image pull policy follows the tag: latest or none pulls Always', async (t) => {
  const policy = (image: string): string => defaulted('Pod', pod({ containers: [container({ image })] })).spec.containers[0].imagePullPolicy
  t.equal(policy('busybox'), 'Always')
  t.equal(policy('busybox:latest'), 'Always')
  t.equal(policy('localhost:5000/busybox'), 'Always', 'a registry port is not a tag')
  t.equal(policy('localhost:5000/busybox:1.36'), 'IfNotPresent')
  t.equal(policy('busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'), 'IfNotPresent')
  t.equal(defaulted('Pod', pod({ containers: [container({ imagePullPolicy: 'Never' })] })).spec.containers[0].imagePullPolicy, 'Never', 'given values win')
})

t.test('probe, handler, volume and downward API defaults', async (t) => {
  const result = defaulted('Pod', pod({
    containers: [container({
      livenessProbe: { httpGet: { port: 8080 } },
      readinessProbe: { tcpSocket: { port: 'http' }, periodSeconds: 5, timeoutSeconds: 0 },
      env: [{ name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }],
    })],
    volumes: [{ name: 'scratch' }, { name: 'config', configMap: { name: 'settings' } }, { name: 'token', secret: { secretName: 'token' } }],
  }))
  const [app] = result.spec.containers
  t.same(app.livenessProbe, { httpGet: { port: 8080, path: '/', scheme: 'HTTP' }, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 })
  t.match(app.readinessProbe, { periodSeconds: 5, timeoutSeconds: 1 }, 'zero means unset for probe timings')
  t.equal(app.env[0].valueFrom.fieldRef.apiVersion, 'v1')
  t.same(result.spec.volumes[0], { name: 'scratch', emptyDir: {} }, 'a volume without a source is an emptyDir')
  t.equal(result.spec.volumes[1].configMap.defaultMode, 0o644)
  t.equal(result.spec.volumes[2].secret.defaultMode, 0o644)
})

t.test('limits without requests become requests; quantities are stored canonically', async (t) => {
  const result = defaulted('Pod', pod({ containers: [container({ resources: { limits: { cpu: 0.5, memory: '1024Mi' } } })] }))
  t.same(result.spec.containers[0].resources, { limits: { cpu: '500m', memory: '1Gi' }, requests: { cpu: '500m', memory: '1Gi' } })
  t.equal(result.status.qosClass, 'Guaranteed')
})

t.test('the QoS class follows requests and limits of all containers', async (t) => {
  const qos = (containers: Loose[], initContainers: Loose[] = []): string => defaulted('Pod', pod({ containers, initContainers })).status.qosClass
  const full = { limits: { cpu: '1', memory: '1Gi' } }
  t.equal(qos([container()]), 'BestEffort')
  t.equal(qos([container({ resources: full })]), 'Guaranteed')
  t.equal(qos([container({ resources: { requests: { cpu: '100m' } } })]), 'Burstable')
  t.equal(qos([container({ resources: { limits: { cpu: '1' } } })]), 'Burstable', 'a cpu limit alone is not Guaranteed')
  t.equal(qos([container({ resources: { requests: { cpu: '500m', memory: '1Gi' }, limits: full.limits } })]), 'Burstable', 'requests below limits')
  t.equal(qos([container({ resources: full }), container({ name: 'side' })]), 'Burstable', 'one container without limits')
  t.equal(qos([container({ resources: full })], [container({ name: 'init', resources: full })]), 'Guaranteed', 'init containers count too')
  t.equal(qos([container({ resources: { requests: { 'example.com/gpu': '1' }, limits: { 'example.com/gpu': '1' } } })]), 'BestEffort', 'only cpu and memory count')
  t.same(defaulted('Pod', { ...pod(), status: { qosClass: 'Guaranteed', phase: 'Running' } }).status, { qosClass: 'BestEffort', phase: 'Running' }, 'a given phase is kept, the class recomputed')
})

t.test('applyDefaults does not modify its argument', async (t) => {
  const input = pod({ containers: [container({ resources: { limits: { cpu: '1' } } })] })
  const before = JSON.stringify(input)
  defaulted('Pod', input)
  t.equal(JSON.stringify(input), before)
})

t.test('containers: required, DNS-label names unique across init containers, an image', async (t) => {
  refused(t, 'Pod', pod({ containers: [] }), { field: 'spec.containers', type: 'FieldValueRequired' })
  refused(t, 'Pod', pod({ containers: [container({ name: '' })] }), { field: 'spec.containers[0].name', type: 'FieldValueRequired' })
  refused(t, 'Pod', pod({ containers: [container({ name: 'App_1' })] }), { field: 'spec.containers[0].name', type: 'FieldValueInvalid', detail: 'RFC 1123 label' })
  refused(t, 'Pod', pod({ containers: [container(), container()] }), { field: 'spec.containers[1].name', type: 'FieldValueDuplicate' })
  refused(t, 'Pod', pod({ initContainers: [container()] }), { field: 'spec.initContainers[0].name', type: 'FieldValueDuplicate' })
  refused(t, 'Pod', pod({ containers: [container({ image: '' })] }), { field: 'spec.containers[0].image', type: 'FieldValueRequired' })
  refused(t, 'Pod', pod({ initContainers: [container({ name: 'init', livenessProbe: { exec: { command: ['true'] } } })] }), {
    field: 'spec.initContainers[0].livenessProbe', type: 'FieldValueInvalid', detail: 'must not be set for init containers',
  })
  accepted(t, 'Pod', pod({ initContainers: [container({ name: 'init' })] }))
  accepted(t, 'Pod', pod({ initContainers: [container({ name: 'proxy', restartPolicy: 'Always', readinessProbe: { tcpSocket: { port: 15000 } } })] }), undefined, 'sidecars may have probes')
  refused(t, 'Pod', pod({ initContainers: [container({ name: 'init', restartPolicy: 'Never' })] }), { field: 'spec.initContainers[0].restartPolicy', type: 'FieldValueNotSupported' })
  refused(t, 'Pod', pod({ containers: [container({ restartPolicy: 'Always' })] }), { field: 'spec.containers[0].restartPolicy', type: 'FieldValueForbidden' })
})

t.test('on the host network a container port is also its host port', async (t) => {
  const result = defaulted('Pod', pod({ hostNetwork: true, containers: [container({ ports: [{ containerPort: 9100 }] })] }))
  t.same(result.spec.containers[0].ports, [{ containerPort: 9100, protocol: 'TCP', hostPort: 9100 }])
  t.notOk('hostPort' in defaulted('Pod', pod({ containers: [container({ ports: [{ containerPort: 9100 }] })] })).spec.containers[0].ports[0])
})

t.test('container ports: 1–65535, TCP/UDP/SCTP, unique IANA names, free host ports', async (t) => {
  const errors = errorsOf('Pod', pod({ containers: [container({ ports: [{ containerPort: 70000 }] })] }))
  t.same(errors.map(formatFieldError), ['spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive'])
  refused(t, 'Pod', pod({ containers: [container({ ports: [{ name: 'http' }] })] }), { field: 'spec.containers[0].ports[0].containerPort', type: 'FieldValueRequired' })
  refused(t, 'Pod', pod({ containers: [container({ ports: [{ containerPort: 53, protocol: 'ICMP' }] })] }), {
    field: 'spec.containers[0].ports[0].protocol', type: 'FieldValueNotSupported', detail: 'supported values: "SCTP", "TCP", "UDP"',
  })
  refused(t, 'Pod', pod({ containers: [container({ ports: [{ containerPort: 80, name: 'web-http-endpoint' }] })] }), { field: 'spec.containers[0].ports[0].name', type: 'FieldValueInvalid', detail: 'no more than 15 characters' })
  refused(t, 'Pod', pod({ containers: [container({ ports: [{ containerPort: 80, name: '8080' }] })] }), { field: 'spec.containers[0].ports[0].name', type: 'FieldValueInvalid', detail: 'at least one letter' })
  refused(t, 'Pod', pod({ containers: [container({ ports: [{ containerPort: 80, name: 'a--b' }] })] }), { field: 'spec.containers[0].ports[0].name', type: 'FieldValueInvalid', detail: 'consecutive hyphens' })
  refused(t, 'Pod', pod({ containers: [container({ ports: [{ containerPort: 80, name: 'http' }, { containerPort: 81, name: 'http' }] })] }), { field: 'spec.containers[0].ports[1].name', type: 'FieldValueDuplicate' })
  refused(t, 'Pod', pod({ containers: [container({ ports: [{ containerPort: 80, hostPort: 8080 }] }), container({ name: 'b', ports: [{ containerPort: 81, hostPort: 8080 }] })] }), {
    field: 'spec.containers[1].ports[0].hostPort', type: 'FieldValueDuplicate',
  })
  accepted(t, 'Pod', pod({ containers: [container({ ports: [{ containerPort: 80, name: 'http' }, { containerPort: 80, protocol: 'UDP', name: 'dns' }] })] }))
})

t.test('resources: valid quantities, known names, requests within limits', async (t) => {
  const withResources = (resources: Loose): Loose => pod({ containers: [container({ resources })] })
  refused(t, 'Pod', withResources({ requests: { cpu: 'lots' } }), { field: 'spec.containers[0].resources.requests[cpu]', type: 'FieldValueInvalid', detail: 'quantities must match the regular expression' })
  refused(t, 'Pod', withResources({ requests: { memory: '-1Gi' } }), { field: 'spec.containers[0].resources.requests[memory]', type: 'FieldValueInvalid', detail: 'must be greater than or equal to 0' })
  refused(t, 'Pod', withResources({ limits: { gpu: '1' } }), { field: 'spec.containers[0].resources.limits[gpu]', type: 'FieldValueInvalid', detail: 'must be a standard resource for containers' })
  const overLimit = errorsOf('Pod', withResources({ requests: { cpu: '2' }, limits: { cpu: '1' } }))
  t.same(overLimit.map(formatFieldError), ['spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1'])
  refused(t, 'Pod', withResources({ requests: { 'example.com/gpu': '1' }, limits: { 'example.com/gpu': '2' } }), {
    field: 'spec.containers[0].resources.requests', type: 'FieldValueInvalid', detail: 'must be equal to example.com/gpu limit',
  })
  refused(t, 'Pod', withResources({ limits: { 'hugepages-2Mi': '2Mi' } }), { field: 'spec.containers[0].resources', type: 'FieldValueForbidden', detail: 'HugePages require cpu or memory' })
  accepted(t, 'Pod', withResources({ requests: { cpu: '250m', memory: '64Mi', 'ephemeral-storage': '1Gi' }, limits: { cpu: '1', memory: '128Mi', 'example.com/gpu': 2 } }))
})

t.test('probes: exactly one handler, liveness and startup succeed once, valid ports and schemes', async (t) => {
  const probed = (probes: Loose): Loose => pod({ containers: [container(probes)] })
  refused(t, 'Pod', probed({ livenessProbe: { periodSeconds: 5 } }), { field: 'spec.containers[0].livenessProbe', type: 'FieldValueRequired', detail: 'must specify a handler type' })
  const two = errorsOf('Pod', probed({ livenessProbe: { exec: { command: ['true'] }, tcpSocket: { port: 80 } } }))
  t.same(two.map(formatFieldError), ['spec.containers[0].livenessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type'])
  refused(t, 'Pod', probed({ livenessProbe: { tcpSocket: { port: 80 }, successThreshold: 3 } }), { field: 'spec.containers[0].livenessProbe.successThreshold', type: 'FieldValueInvalid', detail: 'must be 1' })
  refused(t, 'Pod', probed({ startupProbe: { tcpSocket: { port: 80 }, successThreshold: 2 } }), { field: 'spec.containers[0].startupProbe.successThreshold', type: 'FieldValueInvalid', detail: 'must be 1' })
  accepted(t, 'Pod', probed({ readinessProbe: { tcpSocket: { port: 80 }, successThreshold: 3 } }), undefined, 'readiness may need several successes')
  refused(t, 'Pod', probed({ readinessProbe: { httpGet: { port: 'HTTP' } } }), { field: 'spec.containers[0].readinessProbe.httpGet.port', type: 'FieldValueInvalid' })
  refused(t, 'Pod', probed({ readinessProbe: { httpGet: { port: 80, scheme: 'FTP' } } }), { field: 'spec.containers[0].readinessProbe.httpGet.scheme', type: 'FieldValueNotSupported' })
  refused(t, 'Pod', probed({ readinessProbe: { exec: { command: [] } } }), { field: 'spec.containers[0].readinessProbe.exec.command', type: 'FieldValueRequired' })
  refused(t, 'Pod', probed({ readinessProbe: { grpc: { port: 0 } } }), { field: 'spec.containers[0].readinessProbe.grpc.port', type: 'FieldValueInvalid' })
  refused(t, 'Pod', probed({ livenessProbe: { tcpSocket: { port: 80 }, initialDelaySeconds: -5 } }), { field: 'spec.containers[0].livenessProbe.initialDelaySeconds', type: 'FieldValueInvalid', detail: 'greater than or equal to 0' })
  refused(t, 'Pod', probed({ lifecycle: { preStop: {} } }), { field: 'spec.containers[0].lifecycle.preStop', type: 'FieldValueRequired', detail: 'must specify a handler type' })
  accepted(t, 'Pod', probed({ livenessProbe: { grpc: { port: 9090 } }, startupProbe: { httpGet: { port: 'http', path: '/healthz' } }, lifecycle: { preStop: { exec: { command: ['sleep', '5'] } } } }))
})

t.test('environment: variable names, exactly one valueFrom source, envFrom', async (t) => {
  const withEnv = (fields: Loose): Loose => pod({ containers: [container(fields)] })
  refused(t, 'Pod', withEnv({ env: [{ name: '1ST' }] }), { field: 'spec.containers[0].env[0].name', type: 'FieldValueInvalid', detail: "regex used for validation is '[-._a-zA-Z][-._a-zA-Z0-9]*'" })
  refused(t, 'Pod', withEnv({ env: [{ name: '..' }] }), { field: 'spec.containers[0].env[0].name', type: 'FieldValueInvalid', detail: "must not be '..'" })
  refused(t, 'Pod', withEnv({ env: [{ name: '', value: 'x' }] }), { field: 'spec.containers[0].env[0].name', type: 'FieldValueRequired' })
  refused(t, 'Pod', withEnv({ env: [{ name: 'A', valueFrom: {} }] }), { field: 'spec.containers[0].env[0].valueFrom', type: 'FieldValueInvalid', detail: 'must specify one of' })
  refused(t, 'Pod', withEnv({ env: [{ name: 'A', valueFrom: { configMapKeyRef: { name: 'c', key: 'k' }, secretKeyRef: { name: 's', key: 'k' } } }] }), {
    field: 'spec.containers[0].env[0].valueFrom', type: 'FieldValueInvalid', detail: 'may not have more than one field specified at a time',
  })
  refused(t, 'Pod', withEnv({ env: [{ name: 'A', value: 'x', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] }), {
    field: 'spec.containers[0].env[0].valueFrom', type: 'FieldValueInvalid', detail: 'may not be specified when `value` is not empty',
  })
  refused(t, 'Pod', withEnv({ env: [{ name: 'A', valueFrom: { fieldRef: { fieldPath: 'spec.hostname' } } }] }), { field: 'spec.containers[0].env[0].valueFrom.fieldRef.fieldPath', type: 'FieldValueNotSupported' })
  refused(t, 'Pod', withEnv({ env: [{ name: 'A', valueFrom: { configMapKeyRef: { name: 'c', key: 'a/b' } } }] }), { field: 'spec.containers[0].env[0].valueFrom.configMapKeyRef.key', type: 'FieldValueInvalid' })
  refused(t, 'Pod', withEnv({ env: [{ name: 'A', valueFrom: { resourceFieldRef: { resource: 'limits.gpu' } } }] }), { field: 'spec.containers[0].env[0].valueFrom.resourceFieldRef.resource', type: 'FieldValueNotSupported' })
  refused(t, 'Pod', withEnv({ envFrom: [{ prefix: 'X' }] }), { field: 'spec.containers[0].envFrom', type: 'FieldValueInvalid', detail: 'must specify one of: `configMapRef` or `secretRef`' })
  refused(t, 'Pod', withEnv({ envFrom: [{ prefix: '9', configMapRef: { name: 'c' } }] }), { field: 'spec.containers[0].envFrom[0].prefix', type: 'FieldValueInvalid' })
  accepted(t, 'Pod', withEnv({
    env: [
      { name: 'MY.VAR-1', value: 'x' },
      { name: 'POD', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
      { name: 'CPU', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
      { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } },
    ],
    envFrom: [{ configMapRef: { name: 'settings' } }, { prefix: 'DB_', secretRef: { name: 'db' } }],
  }))
})

t.test('volumes: DNS-label names, unique, exactly one source; mounts refer to them', async (t) => {
  const mounted = (volumes: Loose[], volumeMounts: Loose[] = []): Loose => pod({ volumes, containers: [container({ volumeMounts })] })
  refused(t, 'Pod', mounted([{ name: 'Data', emptyDir: {} }]), { field: 'spec.volumes[0].name', type: 'FieldValueInvalid' })
  refused(t, 'Pod', mounted([{ name: 'data', emptyDir: {} }, { name: 'data', emptyDir: {} }]), { field: 'spec.volumes[1].name', type: 'FieldValueDuplicate' })
  refused(t, 'Pod', mounted([{ name: 'data', emptyDir: {}, hostPath: { path: '/var' } }]), { field: 'spec.volumes[0].hostPath', type: 'FieldValueForbidden', detail: 'may not specify more than 1 volume type' })
  refused(t, 'Pod', mounted([{ name: 'data', hostPath: {} }]), { field: 'spec.volumes[0].hostPath.path', type: 'FieldValueRequired' })
  refused(t, 'Pod', mounted([{ name: 'data', configMap: {} }]), { field: 'spec.volumes[0].configMap.name', type: 'FieldValueRequired' })
  refused(t, 'Pod', mounted([{ name: 'data', secret: { secretName: 's', items: [{ key: 'k', path: '../etc' }] } }]), { field: 'spec.volumes[0].secret.items[0].path', type: 'FieldValueInvalid', detail: "must not contain '..'" })
  refused(t, 'Pod', mounted([{ name: 'data', persistentVolumeClaim: {} }]), { field: 'spec.volumes[0].persistentVolumeClaim.claimName', type: 'FieldValueRequired' })
  refused(t, 'Pod', mounted([{ name: 'data', projected: { sources: [{}] } }]), { field: 'spec.volumes[0].projected.sources[0]', type: 'FieldValueRequired' })
  refused(t, 'Pod', mounted([{ name: 'data', downwardAPI: { items: [{ path: 'labels' }] } }]), { field: 'spec.volumes[0].downwardAPI', type: 'FieldValueRequired', detail: 'one of fieldRef and resourceFieldRef is required' })
  refused(t, 'Pod', mounted([{ name: 'data', configMap: { name: 'c', defaultMode: 0o1777 } }]), { field: 'spec.volumes[0].configMap.defaultMode', type: 'FieldValueInvalid', detail: '0777 (octal)' })
  refused(t, 'Pod', mounted([], [{ name: 'missing', mountPath: '/data' }]), { field: 'spec.containers[0].volumeMounts[0].name', type: 'FieldValueNotFound' })
  refused(t, 'Pod', mounted([{ name: 'data' }], [{ name: 'data', mountPath: 'data' }]), { field: 'spec.containers[0].volumeMounts[0].mountPath', type: 'FieldValueInvalid', detail: 'must be an absolute path' })
  refused(t, 'Pod', mounted([{ name: 'data' }], [{ name: 'data', mountPath: '/d' }, { name: 'data', mountPath: '/d' }]), { field: 'spec.containers[0].volumeMounts[1].mountPath', type: 'FieldValueInvalid', detail: 'must be unique' })
  refused(t, 'Pod', mounted([{ name: 'data' }], [{ name: 'data', mountPath: '/d', subPath: '/abs' }]), { field: 'spec.containers[0].volumeMounts[0].subPath', type: 'FieldValueInvalid', detail: 'must be a relative path' })
  accepted(t, 'Pod', mounted(
    [
      { name: 'scratch' },
      { name: 'host', hostPath: { path: '/var/log', type: 'Directory' } },
      { name: 'config', configMap: { name: 'settings', items: [{ key: 'a', path: 'a.conf' }] } },
      { name: 'token', secret: { secretName: 'token' } },
      { name: 'claim', persistentVolumeClaim: { claimName: 'data' } },
      { name: 'meta', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } },
      { name: 'all', projected: { sources: [{ configMap: { name: 'settings' } }, { serviceAccountToken: { path: 'token' } }] } },
    ],
    [{ name: 'scratch', mountPath: '/tmp' }, { name: 'config', mountPath: '/etc/app', readOnly: true }, { name: 'claim', mountPath: '/data', subPath: 'app' }],
  ))
})

t.test('pod-level policies: restart, DNS, grace period, pull policy, deadline, names', async (t) => {
  refused(t, 'Pod', pod({ restartPolicy: 'Sometimes' }), { field: 'spec.restartPolicy', type: 'FieldValueNotSupported', detail: 'supported values: "Always", "OnFailure", "Never"' })
  refused(t, 'Pod', pod({ dnsPolicy: 'Google' }), { field: 'spec.dnsPolicy', type: 'FieldValueNotSupported' })
  refused(t, 'Pod', pod({ dnsPolicy: 'None' }), { field: 'spec.dnsConfig', type: 'FieldValueRequired' })
  refused(t, 'Pod', pod({ terminationGracePeriodSeconds: -1 }), { field: 'spec.terminationGracePeriodSeconds', type: 'FieldValueInvalid', detail: 'must be greater than or equal to 0' })
  refused(t, 'Pod', pod({ containers: [container({ imagePullPolicy: 'Sometimes' })] }), { field: 'spec.containers[0].imagePullPolicy', type: 'FieldValueNotSupported' })
  refused(t, 'Pod', pod({ containers: [container({ terminationMessagePolicy: 'Stdout' })] }), { field: 'spec.containers[0].terminationMessagePolicy', type: 'FieldValueInvalid' })
  refused(t, 'Pod', pod({ activeDeadlineSeconds: 0 }), { field: 'spec.activeDeadlineSeconds', type: 'FieldValueInvalid' })
  refused(t, 'Pod', pod({ hostname: 'web.0' }), { field: 'spec.hostname', type: 'FieldValueInvalid' })
  refused(t, 'Pod', pod({ nodeName: 'Node_1' }), { field: 'spec.nodeName', type: 'FieldValueInvalid' })
  accepted(t, 'Pod', pod({ restartPolicy: 'Never', dnsPolicy: 'None', dnsConfig: { nameservers: ['10.0.0.10'] }, terminationGracePeriodSeconds: 0, hostname: 'web-0', subdomain: 'web', nodeName: 'node-1.zone-a' }))
})

t.test('scheduling: node selector, tolerations, affinity, topology spread', async (t) => {
  refused(t, 'Pod', pod({ nodeSelector: { 'disk type': 'ssd' } }), { field: 'spec.nodeSelector', type: 'FieldValueInvalid' })
  refused(t, 'Pod', pod({ nodeSelector: { disk: 'very fast' } }), { field: 'spec.nodeSelector', type: 'FieldValueInvalid' })
  const tolerating = (toleration: Loose): Loose => pod({ tolerations: [toleration] })
  refused(t, 'Pod', tolerating({ key: 'a', operator: 'Maybe' }), { field: 'spec.tolerations[0].operator', type: 'FieldValueNotSupported', detail: 'supported values: "Equal", "Exists"' })
  refused(t, 'Pod', tolerating({ key: 'a', operator: 'Exists', value: 'x' }), { field: 'spec.tolerations[0].operator', type: 'FieldValueInvalid', detail: "value must be empty when `operator` is 'Exists'" })
  refused(t, 'Pod', tolerating({ key: 'a', value: 'x', effect: 'NoSchedule', tolerationSeconds: 60 }), { field: 'spec.tolerations[0].effect', type: 'FieldValueInvalid', detail: "effect must be 'NoExecute' when `tolerationSeconds` is set" })
  refused(t, 'Pod', tolerating({ key: 'a', value: 'x', effect: 'Evict' }), { field: 'spec.tolerations[0].effect', type: 'FieldValueNotSupported', detail: '"NoSchedule", "PreferNoSchedule", "NoExecute"' })
  refused(t, 'Pod', tolerating({ operator: 'Equal', value: 'x' }), { field: 'spec.tolerations[0].operator', type: 'FieldValueInvalid', detail: 'operator must be Exists when `key` is empty' })
  const nodeAffinity = (required: Loose): Loose => pod({ affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: required } } })
  refused(t, 'Pod', nodeAffinity({ nodeSelectorTerms: [] }), { field: 'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms', type: 'FieldValueRequired' })
  refused(t, 'Pod', nodeAffinity({ nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'Near', values: ['a'] }] }] }), {
    field: 'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator', type: 'FieldValueInvalid', detail: 'not a valid selector operator',
  })
  refused(t, 'Pod', nodeAffinity({ nodeSelectorTerms: [{ matchExpressions: [{ key: 'cores', operator: 'Gt', values: ['1', '2'] }] }] }), {
    field: 'spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values', type: 'FieldValueRequired',
  })
  refused(t, 'Pod', pod({ affinity: { podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 0, podAffinityTerm: { topologyKey: 'zone' } }] } } }), {
    field: 'spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight', type: 'FieldValueInvalid', detail: 'must be in the range 1-100',
  })
  refused(t, 'Pod', pod({ affinity: { podAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { app: 'db' } } }] } } }), {
    field: 'spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey', type: 'FieldValueRequired', detail: 'can not be empty',
  })
  const spread = (constraint: Loose): Loose => pod({ topologySpreadConstraints: [constraint] })
  const valid = { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'DoNotSchedule', labelSelector: { matchLabels: { app: 'web' } } }
  refused(t, 'Pod', spread({ ...valid, maxSkew: 0 }), { field: 'spec.topologySpreadConstraints[0].maxSkew', type: 'FieldValueInvalid', detail: 'must be greater than zero' })
  refused(t, 'Pod', spread({ ...valid, topologyKey: '' }), { field: 'spec.topologySpreadConstraints[0].topologyKey', type: 'FieldValueRequired', detail: 'can not be empty' })
  refused(t, 'Pod', spread({ ...valid, whenUnsatisfiable: 'Ignore' }), { field: 'spec.topologySpreadConstraints[0].whenUnsatisfiable', type: 'FieldValueNotSupported' })
  refused(t, 'Pod', pod({ topologySpreadConstraints: [valid, { ...valid, maxSkew: 2 }] }), { field: 'spec.topologySpreadConstraints[0].{topologyKey, whenUnsatisfiable}', type: 'FieldValueDuplicate' })
  accepted(t, 'Pod', pod({
    nodeSelector: { 'kubernetes.io/os': 'linux' },
    tolerations: [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }, { operator: 'Exists' }, { key: 'dedicated', value: 'db', effect: 'NoSchedule' }],
    affinity: {
      nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] }] } },
      podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { app: 'web' } } } }] },
    },
    topologySpreadConstraints: [valid, { ...valid, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway' }],
  }))
})

t.test('pod updates may change images and bind the pod, nothing else in the spec', async (t) => {
  const stored = defaulted('Pod', pod())
  accepted(t, 'Pod', { ...stored, spec: { ...stored.spec, containers: [{ ...stored.spec.containers[0], image: 'registry.local/app:1.3' }] } }, stored, 'a new image')
  accepted(t, 'Pod', { ...stored, spec: { ...stored.spec, nodeName: 'node-1' } }, stored, 'binding an unbound pod')
  accepted(t, 'Pod', { ...stored, metadata: { ...stored.metadata, labels: { tier: 'web' } } }, stored, 'metadata changes')
  refused(t, 'Pod', { ...stored, spec: { ...stored.spec, restartPolicy: 'Never' } }, { field: 'spec', type: 'FieldValueForbidden', detail: 'pod updates may not change fields other than' }, stored)
  const bound = defaulted('Pod', pod({ nodeName: 'node-1' }))
  refused(t, 'Pod', { ...bound, spec: { ...bound.spec, nodeName: 'node-2' } }, { field: 'spec', type: 'FieldValueForbidden' }, bound)
})
