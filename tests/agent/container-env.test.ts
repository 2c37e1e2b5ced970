// Goal: a container's environment resolves as the kubelet resolves it: every source (value,
// envFrom with prefix, configMapKeyRef, secretKeyRef, fieldRef, resourceFieldRef), `$(VAR)`
// expansion of earlier variables in values, command and args, optional references, and the
// kubelet's messages for what is missing. Method: crafted pods and in-memory sources.
import t from 'tap'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'
import { ContainerConfigError, expandContainerCommand, expandVariables, resolveContainerEnv, type ConfigSources, type EnvContext } from '../../node/src/agent/container-env.ts'

const NAMESPACE = 'team'

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64')
}

/** Config maps and secrets by `namespace/name`; counts lookups so caching can be checked. */
function sourcesOf(objects: { configMaps?: Record<string, JsonObject>; secrets?: Record<string, JsonObject> }): ConfigSources & { lookups: number } {
  const sources = {
    lookups: 0,
    configMap(namespace: string, name: string): JsonObject | undefined {
      sources.lookups++
      return objects.configMaps?.[`${namespace}/${name}`]
    },
    secret(namespace: string, name: string): JsonObject | undefined {
      sources.lookups++
      return objects.secrets?.[`${namespace}/${name}`]
    },
  }
  return sources
}

const SOURCES = sourcesOf({
  configMaps: {
    'team/app-config': { metadata: { name: 'app-config', namespace: NAMESPACE }, data: { LOG_LEVEL: 'debug', 'bad key': 'skipped', '1ST': 'skipped', 'app.mode': 'fast' } },
    'team/other': { metadata: { name: 'other', namespace: NAMESPACE }, data: { GREETING: 'hello' } },
  },
  secrets: {
    'team/db': { metadata: { name: 'db', namespace: NAMESPACE }, data: { password: base64('s3cr3t'), user: base64('admin') }, type: 'Opaque' },
  },
})

const CONTEXT: EnvContext = { nodeName: 'node-a', nodeIp: '192.168.1.10', podIp: '10.244.0.7', podIps: ['10.244.0.7', 'fd00::7'], serviceAccountName: 'default' }

function podWith(container: JsonObject, extra: JsonObject = {}): JsonObject {
  return {
    metadata: { name: 'web-0', namespace: NAMESPACE, uid: 'uid-123', labels: { app: 'web', tier: 'front' }, annotations: { note: 'say "hi"' } },
    spec: { nodeName: 'node-a', serviceAccountName: 'builder', containers: [container], ...extra },
  }
}

function envOf(container: JsonObject, sources: ConfigSources = SOURCES, context: EnvContext = CONTEXT): Record<string, string> {
  const env = resolveContainerEnv(podWith(container), container, sources, context)
  return Object.fromEntries(env.map(({ name, value }) => [name, value]))
}

function configError(message: string): { name: string; message: string } {
  return { name: 'ContainerConfigError', message }
}

t.test('resolveContainerEnv: literal values expand earlier variables, never later ones', async (t) => {
  const env = envOf({
    name: 'app',
    env: [
      { name: 'HOST', value: 'db.local' },
      { name: 'URL', value: 'postgres://$(HOST):$(PORT)/x' },
      { name: 'PORT', value: '5432' },
      { name: 'PRICE', value: '$$(HOST) costs $$5 and $(UNKNOWN) stays' },
      { name: 'EMPTY' },
    ],
  })
  t.same(env, { HOST: 'db.local', URL: 'postgres://db.local:$(PORT)/x', PORT: '5432', PRICE: '$(HOST) costs $5 and $(UNKNOWN) stays', EMPTY: '' })
})

t.test('resolveContainerEnv: order is first appearance; env overrides envFrom and later entries override earlier', async (t) => {
  const env = resolveContainerEnv(
    podWith({}),
    {
      name: 'app',
      envFrom: [{ configMapRef: { name: 'other' } }],
      env: [
        { name: 'A', value: '1' },
        { name: 'GREETING', value: 'override' },
        { name: 'A', value: '2 $(A)' },
      ],
    },
    SOURCES,
    CONTEXT,
  )
  t.same(env, [
    { name: 'GREETING', value: 'override' },
    { name: 'A', value: '2 1' },
  ])
})

t.test('resolveContainerEnv: envFrom takes every valid key with its prefix, sorted, from config maps and secrets', async (t) => {
  const env = resolveContainerEnv(
    podWith({}),
    {
      name: 'app',
      envFrom: [{ configMapRef: { name: 'app-config' }, prefix: 'CFG_' }, { secretRef: { name: 'db' } }, { configMapRef: { name: 'absent', optional: true } }],
      env: [{ name: 'DSN', value: '$(user):$(password)@$(CFG_LOG_LEVEL)' }],
    },
    SOURCES,
    CONTEXT,
  )
  t.same(env, [
    // "CFG_1ST" is a valid name once prefixed; "CFG_bad key" is not and is skipped.
    { name: 'CFG_1ST', value: 'skipped' },
    { name: 'CFG_LOG_LEVEL', value: 'debug' },
    { name: 'CFG_app.mode', value: 'fast' },
    { name: 'password', value: 's3cr3t' },
    { name: 'user', value: 'admin' },
    { name: 'DSN', value: 'admin:s3cr3t@debug' },
  ])
  const unprefixed = envOf({ name: 'app', envFrom: [{ configMapRef: { name: 'app-config' } }] })
  t.same(Object.keys(unprefixed), ['LOG_LEVEL', 'app.mode'], 'keys that are not variable names (leading digit, space) are skipped')
})

t.test('resolveContainerEnv: configMapKeyRef and secretKeyRef read one key; secret data is base64-decoded', async (t) => {
  const env = envOf({
    name: 'app',
    env: [
      { name: 'LEVEL', valueFrom: { configMapKeyRef: { name: 'app-config', key: 'LOG_LEVEL' } } },
      { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'password' } } },
      { name: 'MISSING_KEY', valueFrom: { configMapKeyRef: { name: 'app-config', key: 'nope', optional: true } } },
      { name: 'MISSING_MAP', valueFrom: { configMapKeyRef: { name: 'absent', key: 'k', optional: true } } },
      { name: 'MISSING_SECRET', valueFrom: { secretKeyRef: { name: 'absent', key: 'k', optional: true } } },
      { name: 'MISSING_SECRET_KEY', valueFrom: { secretKeyRef: { name: 'db', key: 'nope', optional: true } } },
    ],
  })
  t.same(env, { LEVEL: 'debug', PASSWORD: 's3cr3t' }, 'optional references that do not resolve leave the variable unset')
})

t.test('resolveContainerEnv: secret stringData is never read (the API server folds it into data)', async (t) => {
  const sources = sourcesOf({ secrets: { 'team/s': { metadata: { name: 's' }, stringData: { k: 'plain' } } } })
  t.throws(() => envOf({ name: 'app', env: [{ name: 'K', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] }, sources), configError("couldn't find key k in Secret team/s"))
})

t.test('resolveContainerEnv: missing non-optional sources fail with the kubelet messages', async (t) => {
  const cases: [string, JsonObject, string][] = [
    ['configMapKeyRef to a missing map', { env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'k' } } }] }, 'configmap "cfg" not found'],
    ['configMapKeyRef to a missing key', { env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'other', key: 'k' } } }] }, "couldn't find key k in ConfigMap team/other"],
    ['secretKeyRef to a missing secret', { env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }] }, 'secret "s" not found'],
    ['secretKeyRef to a missing key', { env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'db', key: 'k' } } }] }, "couldn't find key k in Secret team/db"],
    ['envFrom a missing config map', { envFrom: [{ configMapRef: { name: 'cfg' } }] }, 'configmap "cfg" not found'],
    ['envFrom a missing secret', { envFrom: [{ secretRef: { name: 's', optional: false } }] }, 'secret "s" not found'],
    ['an unsupported fieldRef', { env: [{ name: 'X', valueFrom: { fieldRef: { fieldPath: 'spec.hostname' } } }] }, 'unsupported fieldPath: spec.hostname'],
    ['an unsupported resourceFieldRef', { env: [{ name: 'X', valueFrom: { resourceFieldRef: { resource: 'limits.gpu' } } }] }, 'unsupported container resource : limits.gpu'],
  ]
  for (const [what, container, message] of cases) {
    t.throws(() => envOf({ name: 'app', ...container }), configError(message), what)
  }
  t.ok(new ContainerConfigError('x') instanceof Error)
})

t.test('resolveContainerEnv: each config map and secret is looked up once per resolution', async (t) => {
  const sources = sourcesOf({ configMaps: { 'team/other': { data: { A: 'a', B: 'b' } } } })
  envOf(
    {
      name: 'app',
      envFrom: [{ configMapRef: { name: 'other' } }],
      env: [
        { name: 'X', valueFrom: { configMapKeyRef: { name: 'other', key: 'A' } } },
        { name: 'Y', valueFrom: { configMapKeyRef: { name: 'other', key: 'B' } } },
      ],
    },
    sources,
  )
  t.equal(sources.lookups, 1, 'one version of the map for the whole container')
})

t.test('resolveContainerEnv: fieldRef reads pod metadata, spec and the node-known status fields', async (t) => {
  const fields = {
    NAME: 'metadata.name',
    NAMESPACE: 'metadata.namespace',
    UID: 'metadata.uid',
    APP: "metadata.labels['app']",
    NO_LABEL: "metadata.labels['absent']",
    NOTE: "metadata.annotations['note']",
    LABELS: 'metadata.labels',
    ANNOTATIONS: 'metadata.annotations',
    NODE: 'spec.nodeName',
    SA: 'spec.serviceAccountName',
    HOST_IP: 'status.hostIP',
    POD_IP: 'status.podIP',
    POD_IPS: 'status.podIPs',
  }
  const env = envOf({ name: 'app', env: Object.entries(fields).map(([name, fieldPath]) => ({ name, valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath } } })) })
  t.same(env, {
    NAME: 'web-0',
    NAMESPACE: NAMESPACE,
    UID: 'uid-123',
    APP: 'web',
    NO_LABEL: '',
    NOTE: 'say "hi"',
    LABELS: 'app="web"\ntier="front"',
    ANNOTATIONS: 'note="say \\"hi\\""',
    NODE: 'node-a',
    SA: 'builder',
    HOST_IP: '192.168.1.10',
    POD_IP: '10.244.0.7',
    POD_IPS: '10.244.0.7,fd00::7',
  })
  const bare = envOf({ name: 'app', env: [{ name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }] }, SOURCES, { nodeName: 'n' })
  t.same(bare, { IP: '' }, 'no pod IP yet reads as empty')
})

t.test('resolveContainerEnv: resourceFieldRef divides by the divisor and rounds up', async (t) => {
  const resources = { limits: { cpu: '1500m', memory: '1Gi' }, requests: { cpu: '250m', memory: '100M' } }
  const refs: Record<string, JsonObject> = {
    CPU_LIMIT: { resource: 'limits.cpu' },
    CPU_LIMIT_MILLIS: { resource: 'limits.cpu', divisor: '1m' },
    CPU_REQUEST: { resource: 'requests.cpu' },
    CPU_REQUEST_MILLIS: { resource: 'requests.cpu', divisor: '1m' },
    MEM_LIMIT: { resource: 'limits.memory' },
    MEM_LIMIT_MI: { resource: 'limits.memory', divisor: '1Mi' },
    MEM_REQUEST_MI: { resource: 'requests.memory', divisor: '1Mi' },
    OTHER_CPU: { resource: 'limits.cpu', containerName: 'sidecar', divisor: '1m' },
  }
  const container = { name: 'app', resources, env: Object.entries(refs).map(([name, ref]) => ({ name, valueFrom: { resourceFieldRef: ref } })) }
  const pod = podWith(container, { initContainers: [{ name: 'sidecar', resources: { limits: { cpu: '2' } } }] })
  const env = Object.fromEntries(resolveContainerEnv(pod, container, SOURCES, CONTEXT).map(({ name, value }) => [name, value]))
  t.same(env, {
    CPU_LIMIT: '2',
    CPU_LIMIT_MILLIS: '1500',
    CPU_REQUEST: '1',
    CPU_REQUEST_MILLIS: '250',
    MEM_LIMIT: String(2 ** 30),
    MEM_LIMIT_MI: '1024',
    MEM_REQUEST_MI: '96',
    OTHER_CPU: '2000',
  })
})

t.test('resolveContainerEnv: an unset limit reads the node allocatable, an unset request reads 0', async (t) => {
  const container: JsonObject = {
    name: 'app',
    env: [
      { name: 'CPU', valueFrom: { resourceFieldRef: { resource: 'limits.cpu', divisor: '1m' } } },
      { name: 'MEM', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
      { name: 'REQ', valueFrom: { resourceFieldRef: { resource: 'requests.memory' } } },
    ],
  }
  t.same(envOf(container, SOURCES, { ...CONTEXT, nodeAllocatable: { cpu: '3', memory: '2Gi' } }), { CPU: '3000', MEM: '2048', REQ: '0' })
  const fallback = envOf(container)
  t.ok(Number(fallback['CPU']) >= 1000, 'without the node figures the machine capacity stands in')
  t.ok(Number(fallback['MEM']) > 0)
})

t.test('expandVariables follows Kubernetes expansion on the edge cases', async (t) => {
  const known = new Map([
    ['A', 'x'],
    ['', 'never'],
  ])
  const lookup = (name: string): string | undefined => (name === '' ? undefined : known.get(name))
  const cases: [string, string][] = [
    ['$(A)', 'x'],
    ['$(A)$(A)', 'xx'],
    ['$$(A)', '$(A)'],
    ['$$$(A)', '$x'],
    ['$(B)', '$(B)'],
    ['$()', '$()'],
    ['$(A', '$(A'],
    ['$A', '$A'],
    ['a$', 'a$'],
    ['$', '$'],
    ['(A)', '(A)'],
    ['pre-$(A)-post', 'pre-x-post'],
  ]
  for (const [input, expected] of cases) t.equal(expandVariables(input, lookup), expected, input)
})

t.test('expandContainerCommand expands command and args against the resolved environment', async (t) => {
  const env = [
    { name: 'GREETING', value: 'hello' },
    { name: 'PORT', value: '8080' },
  ]
  t.same(expandContainerCommand(['sh', '-c', 'echo $(GREETING) on $(PORT); echo $$(PORT) $(NOPE)'], env), ['sh', '-c', 'echo hello on 8080; echo $(PORT) $(NOPE)'])
  t.equal(expandContainerCommand(undefined, env), undefined, 'unset stays unset (the image entrypoint applies)')
  t.same(expandContainerCommand([], env), [])
})
