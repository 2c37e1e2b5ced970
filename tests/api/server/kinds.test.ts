// Goal: writes get the defaults Kubernetes applies (and kubectl prints), objects that break their
// kind's rules are refused with field errors, every built-in kind has rules and a valid example,
// and both entry points are pure. Method: tables over applyDefaults and validateKind, plus one
// round trip through the API handler to see the 422 Status kubectl would print.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { BUILTIN_RESOURCES } from '../../../node/src/api/discovery/resources.ts'
import { formatFieldError } from '../../../node/src/api/machinery/field-errors.ts'
import { ApiHandler } from '../../../node/src/api/server/api-handler.ts'
import { applyDefaults, defaultPodSpec, KINDS_WITH_RULES, validateKind } from '../../../node/src/api/server/kinds.ts'
import { MemoryObjectBackend } from '../../../node/src/api/server/memory-backend.ts'
import { ObjectStore } from '../../../node/src/api/server/object-store.ts'
import { RandomXoshiro, type Random } from '../../../lib/random.ts'
import { accepted, container, template, type Loose } from './kinds-fixtures.ts'

const deployment = (overrides: Loose = {}): Loose => ({
  metadata: { name: 'web' },
  spec: {
    selector: { matchLabels: { app: 'web' } },
    template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'busybox:1.36', ports: [{ containerPort: 80 }] }] } },
    ...overrides,
  },
})

/** A valid object of every built-in kind, as a user or controller would write it. */
const EXAMPLES: Readonly<Record<string, Loose>> = {
  ConfigMap: { metadata: { name: 'settings' }, data: { 'app.conf': 'x = 1' } },
  ControllerRevision: { metadata: { name: 'web-1' }, data: { spec: { template: {} } }, revision: 1 },
  CronJob: { metadata: { name: 'nightly' }, spec: { schedule: '@daily', jobTemplate: { spec: { template: { spec: { restartPolicy: 'OnFailure', containers: [container()] } } } } } },
  DaemonSet: { metadata: { name: 'agent' }, spec: { selector: { matchLabels: { app: 'web' } }, template: template() } },
  Deployment: deployment(),
  Endpoints: { metadata: { name: 'web' }, subsets: [{ addresses: [{ ip: '10.244.0.7' }], ports: [{ port: 80 }] }] },
  NetworkPolicy: { metadata: { name: 'web' }, spec: { podSelector: { matchLabels: { app: 'web' } }, ingress: [{ from: [{ podSelector: {} }], ports: [{ port: 80 }] }] } },
  EndpointSlice: { metadata: { name: 'web-abcde' }, addressType: 'IPv4', endpoints: [{ addresses: ['10.244.0.7'], conditions: { ready: true } }], ports: [{ port: 80 }] },
  Event: { metadata: { name: 'web.1' }, involvedObject: { kind: 'Deployment', name: 'web' }, reason: 'ScalingReplicaSet', type: 'Normal' },
  HorizontalPodAutoscaler: { metadata: { name: 'web' }, spec: { scaleTargetRef: { kind: 'Deployment', name: 'web' }, maxReplicas: 5 } },
  Job: { metadata: { name: 'once' }, spec: { template: { spec: { restartPolicy: 'Never', containers: [container()] } } } },
  Lease: { metadata: { name: 'node-1' }, spec: { holderIdentity: 'node-1', leaseDurationSeconds: 40 } },
  Namespace: { metadata: { name: 'team-a' } },
  Node: { metadata: { name: 'node-1' }, spec: { podCIDR: '10.244.1.0/24' } },
  PersistentVolume: { metadata: { name: 'pv-1' }, spec: { accessModes: ['ReadWriteOnce'], capacity: { storage: '1Gi' }, local: { path: '/srv' } } },
  PersistentVolumeClaim: { metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } },
  Pod: { metadata: { name: 'web-0' }, spec: { containers: [container()] } },
  ReplicaSet: { metadata: { name: 'web-5d8f' }, spec: { selector: { matchLabels: { app: 'web' } }, template: template() } },
  ResourceQuota: { metadata: { name: 'quota' }, spec: { hard: { pods: '10', 'requests.cpu': '4' } } },
  Secret: { metadata: { name: 'creds' }, stringData: { password: 'hunter2' } },
  Service: { metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }] } },
  ServiceAccount: { metadata: { name: 'builder' } },
  StatefulSet: { metadata: { name: 'db' }, spec: { serviceName: 'db', selector: { matchLabels: { app: 'web' } }, template: template() } },
  StorageClass: { metadata: { name: 'local-path' }, provisioner: 'flotilla.dev/local-path' },
}

t.test('every built-in kind has rules and a valid example that passes once defaulted', async (t) => {
  const kinds = [...new Set(BUILTIN_RESOURCES.map((resource) => resource.kind))].sort()
  for (const kind of kinds) {
    t.ok(KINDS_WITH_RULES.includes(kind), `${kind} has rules`)
    t.ok(EXAMPLES[kind] !== undefined, `${kind} has an example`)
    if (EXAMPLES[kind] !== undefined) accepted(t, kind, EXAMPLES[kind])
  }
})

t.test('applyDefaults and validateKind are pure', async (t) => {
  for (const [kind, example] of Object.entries(EXAMPLES)) {
    const before = JSON.stringify(example)
    const defaulted = applyDefaults(kind, example)
    validateKind(kind, defaulted, defaulted)
    t.equal(JSON.stringify(example), before, `${kind}: the input is unchanged`)
    t.same(applyDefaults(kind, example), defaulted, `${kind}: defaulting is deterministic`)
    t.same(applyDefaults(kind, defaulted), defaulted, `${kind}: defaulting is idempotent`)
  }
  const custom = { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' }, spec: { size: 3 } }
  t.equal(applyDefaults('Widget', custom), custom, 'kinds without defaults are returned as they are')
  t.same(validateKind('Widget', custom), [], 'and get the metadata rules only')
  const spec = { containers: [container()] }
  t.not(defaultPodSpec(spec), spec)
  t.equal(defaultPodSpec(spec)['restartPolicy'], 'Always')
  t.notOk('restartPolicy' in spec)
})

/** A hostile JSON value: wrong types, nulls, negatives, odd strings, nesting. */
function hostileValue(random: Random, depth = 0): Loose {
  const choices: Array<() => Loose> = [
    () => null,
    () => random.int(-5, 70000),
    () => -1.5,
    () => '',
    () => ['..', '-', 'Always', '25%', '1Gi', 'a/b/c', '*/0 * * * *', 'x'.repeat(300)][random.int(0, 8)],
    () => random.chance(0.5),
    () => (depth > 2 ? [] : [hostileValue(random, depth + 1), hostileValue(random, depth + 1)]),
    () => (depth > 2 ? {} : { name: hostileValue(random, depth + 1), port: hostileValue(random, depth + 1) }),
  ]
  return (choices[random.int(0, choices.length)] as () => Loose)()
}

/** Replaces one randomly chosen value anywhere in the object (mutates `object`). */
function corrupt(object: Loose, random: Random): void {
  let node = object
  for (let depth = 0; depth < 8; depth++) {
    const keys: Array<string | number> = Array.isArray(node) ? node.map((_: unknown, i: number) => i) : Object.keys(node)
    if (keys.length === 0) return
    const key = keys[random.int(0, keys.length)] as string | number
    const child = node[key]
    if (child === null || typeof child !== 'object' || random.chance(0.3)) {
      node[key] = hostileValue(random)
      return
    }
    node = child
  }
}

t.test('hostile field values never make defaulting or validation throw', async (t) => {
  const seed = Number(process.env['FLOTILLA_FUZZ_SEED'] ?? Date.now() % 1_000_000)
  t.comment(`seed ${seed} (replay with FLOTILLA_FUZZ_SEED=${seed})`)
  const random = new RandomXoshiro(seed)
  let checked = 0
  for (const [kind, example] of Object.entries(EXAMPLES)) {
    const stored = applyDefaults(kind, example)
    for (let round = 0; round < 150; round++) {
      const object = structuredClone(stored)
      for (let edits = random.int(1, 4); edits > 0; edits--) corrupt(object, random)
      try {
        const errors = validateKind(kind, applyDefaults(kind, object, round % 2 === 0 ? stored : undefined), round % 2 === 0 ? stored : undefined)
        if (!errors.every((error) => typeof error.field === 'string' && typeof error.detail === 'string')) throw new Error('malformed field error')
        checked++
      } catch (error) {
        t.fail(`${kind} threw on ${JSON.stringify(object)}: ${String(error)}`)
        return
      }
    }
  }
  t.equal(checked, Object.keys(EXAMPLES).length * 150)
})

t.test('applyDefaults fills Deployment, pod template and container defaults', async (t) => {
  const defaulted = applyDefaults('Deployment', deployment()) as Loose
  t.equal(defaulted.spec.replicas, 1)
  t.equal(defaulted.spec.revisionHistoryLimit, 10)
  t.equal(defaulted.spec.progressDeadlineSeconds, 600)
  t.same(defaulted.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } })
  const pod = defaulted.spec.template.spec
  t.equal(pod.restartPolicy, 'Always')
  t.equal(pod.terminationGracePeriodSeconds, 30)
  t.equal(pod.dnsPolicy, 'ClusterFirst')
  t.equal(pod.containers[0].imagePullPolicy, 'IfNotPresent', 'a pinned tag is pulled only when missing')
  t.equal(pod.containers[0].ports[0].protocol, 'TCP')
  t.equal(pod.containers[0].terminationMessagePath, '/dev/termination-log')
  t.equal((applyDefaults('Deployment', deployment({ replicas: 4 })) as Loose).spec.replicas, 4, 'given values win')
})

t.test('validateKind refuses broken workloads, pods and services with field errors', async (t) => {
  const check = (kind: string, object: Loose): string[] => validateKind(kind, applyDefaults(kind, object)).map(formatFieldError)
  t.same(check('Deployment', deployment()), [], 'a valid Deployment has no errors')
  t.match(check('Deployment', deployment({ selector: { matchLabels: { app: 'other' } } })), [/^spec\.template\.metadata\.labels: Invalid value: .*`selector` does not match template `labels`$/])
  t.same(check('Deployment', deployment({ selector: undefined })), ['spec.selector: Required value'])
  t.same(check('Deployment', deployment({ replicas: -1 })), ['spec.replicas: Invalid value: -1: must be greater than or equal to 0'])
  t.same(check('Pod', { metadata: { name: 'p' }, spec: { containers: [] } }), ['spec.containers: Required value'])
  t.same(check('Pod', { metadata: { name: 'p' }, spec: { containers: [{ name: 'a' }, { name: 'a', image: 'x' }] } }), ['spec.containers[0].image: Required value', 'spec.containers[1].name: Duplicate value: "a"'])
  t.same(check('Pod', { metadata: { name: 'p' }, spec: { restartPolicy: 'Sometimes', containers: [{ name: 'a', image: 'x', ports: [{ containerPort: 70000 }] }] } }), [
    'spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive',
    'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
  ])
  t.same(check('ConfigMap', { data: {} }), [], 'an empty ConfigMap is valid')
})

t.test('through the API handler: 422 Invalid with causes, 201 with defaults', async (t) => {
  const api = new ApiHandler({ objects: new ObjectStore(new MemoryObjectBackend()), serverAddress: '127.0.0.1:1' })
  await api.ensureSystemNamespaces()
  const server: Server = createServer((request, response) => void api.handle(request, response))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const post = async (path: string, body: Loose): Promise<{ status: number; body: Loose }> => {
    const response = await fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    return { status: response.status, body: await response.json() }
  }
  const bad = await post('/api/v1/namespaces/default/pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-0' }, spec: { containers: [container({ ports: [{ containerPort: 70000 }] })] } })
  t.equal(bad.status, 422)
  t.equal(bad.body.reason, 'Invalid')
  t.equal(bad.body.message, 'Pod "web-0" is invalid: spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive')
  t.same(bad.body.details.causes, [{ reason: 'FieldValueInvalid', message: 'Invalid value: 70000: must be between 1 and 65535, inclusive', field: 'spec.containers[0].ports[0].containerPort' }])
  const good = await post('/apis/apps/v1/namespaces/default/deployments', { apiVersion: 'apps/v1', kind: 'Deployment', ...deployment() })
  t.equal(good.status, 201)
  t.equal(good.body.spec.strategy.rollingUpdate.maxSurge, '25%')
  t.equal(good.body.spec.template.spec.containers[0].ports[0].protocol, 'TCP')
})
