// Goal: JSON Patch, JSON merge patch and strategic merge patch give the objects a real API server
// would store for the patches real clients send, fail with the same codes, and never touch their
// inputs. Method: the RFC 6902 and RFC 7386 example tables, then strategic-merge tables built from
// the request bodies kubectl 1.20 sends (set image, apply with $setElementOrder and $retainKeys,
// label, rollout undo), then error tables.
import t from 'tap'
import type { JsonObject, JsonValue } from '../../../node/src/api/machinery/canonical.ts'
import {
  applyJsonPatch,
  applyMergePatch,
  applyPatch,
  applyStrategicMergePatch,
  defaultMergeKeyOf,
  MAX_JSON_PATCH_OPERATIONS,
  MERGE_AS_SET,
  patchTypeFromContentType,
  type PatchType,
} from '../../../node/src/api/machinery/patch.ts'

const REJECTED = /^the server rejected our request due to an error in our request: /

t.test('JSON Patch: the RFC 6902 examples', async (t) => {
  const cases: Array<[string, JsonValue, JsonValue, JsonValue]> = [
    ['A.1 add an object member', { foo: 'bar' }, [{ op: 'add', path: '/baz', value: 'qux' }], { foo: 'bar', baz: 'qux' }],
    ['A.2 add an array element', { foo: ['bar', 'baz'] }, [{ op: 'add', path: '/foo/1', value: 'qux' }], { foo: ['bar', 'qux', 'baz'] }],
    ['A.3 remove an object member', { baz: 'qux', foo: 'bar' }, [{ op: 'remove', path: '/baz' }], { foo: 'bar' }],
    ['A.4 remove an array element', { foo: ['bar', 'qux', 'baz'] }, [{ op: 'remove', path: '/foo/1' }], { foo: ['bar', 'baz'] }],
    ['A.5 replace a value', { baz: 'qux', foo: 'bar' }, [{ op: 'replace', path: '/baz', value: 'boo' }], { baz: 'boo', foo: 'bar' }],
    [
      'A.6 move a value',
      { foo: { bar: 'baz', waldo: 'fred' }, qux: { corge: 'grault' } },
      [{ op: 'move', from: '/foo/waldo', path: '/qux/thud' }],
      { foo: { bar: 'baz' }, qux: { corge: 'grault', thud: 'fred' } },
    ],
    ['A.7 move an array element', { foo: ['all', 'grass', 'cows', 'eat'] }, [{ op: 'move', from: '/foo/1', path: '/foo/3' }], { foo: ['all', 'cows', 'eat', 'grass'] }],
    ['A.8 test success', { baz: 'qux', foo: ['a', 2, 'c'] }, [{ op: 'test', path: '/baz', value: 'qux' }, { op: 'test', path: '/foo/1', value: 2 }], { baz: 'qux', foo: ['a', 2, 'c'] }],
    ['A.10 add a nested member object', { foo: 'bar' }, [{ op: 'add', path: '/child', value: { grandchild: {} } }], { foo: 'bar', child: { grandchild: {} } }],
    ['A.11 ignore unrecognized members', { foo: 'bar' }, [{ op: 'add', path: '/baz', value: 'qux', xyz: 123 }], { foo: 'bar', baz: 'qux' }],
    ['A.14 escape ordering', { '/': 9, '~1': 10 }, [{ op: 'test', path: '/~01', value: 10 }], { '/': 9, '~1': 10 }],
    ['A.16 add an array value', { foo: ['bar'] }, [{ op: 'add', path: '/foo/-', value: ['abc', 'def'] }], { foo: ['bar', ['abc', 'def']] }],
    ['test compares objects regardless of key order', { a: { x: 1, y: [1, { z: null }] } }, [{ op: 'test', path: '/a', value: { y: [1, { z: null }], x: 1 } }], { a: { x: 1, y: [1, { z: null }] } }],
    ['copy', { a: { b: [1] } }, [{ op: 'copy', from: '/a', path: '/c' }, { op: 'add', path: '/c/b/-', value: 2 }], { a: { b: [1] }, c: { b: [1, 2] } }],
    ['replace the whole document', { a: 1 }, [{ op: 'replace', path: '', value: { b: 2 } }], { b: 2 }],
    ['move to the same place', { a: 1 }, [{ op: 'move', from: '/a', path: '/a' }], { a: 1 }],
    ['add replaces an existing member', { a: 1 }, [{ op: 'add', path: '/a', value: null }], { a: null }],
    ['a key with a slash', { metadata: { labels: { 'app.kubernetes.io/name': 'x' } } }, [{ op: 'remove', path: '/metadata/labels/app.kubernetes.io~1name' }], { metadata: { labels: {} } }],
  ]
  for (const [name, document, patch, expected] of cases) t.same(applyJsonPatch(document, patch), expected, name)
})

t.test('JSON Patch: kubectl rollout undo replaces the template and the annotations', async (t) => {
  const deployment: JsonObject = {
    metadata: { name: 'web', annotations: { 'deployment.kubernetes.io/revision': '2' } },
    spec: { replicas: 2, template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:1.21' }] } } },
  }
  const undo = [
    { op: 'replace', path: '/spec/template', value: { metadata: { creationTimestamp: null, labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:1.20' }] } } },
    { op: 'replace', path: '/metadata/annotations', value: { 'deployment.kubernetes.io/revision': '2' } },
  ]
  t.same(applyPatch('json', deployment, undo), {
    metadata: { name: 'web', annotations: { 'deployment.kubernetes.io/revision': '2' } },
    spec: { replicas: 2, template: { metadata: { creationTimestamp: null, labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:1.20' }] } } },
  })
  t.equal((deployment.spec as { template: { spec: { containers: Array<{ image: string }> } } }).template.spec.containers[0]?.image, 'nginx:1.21', 'input untouched')
})

t.test('JSON Patch: operations that do not apply are a 422, malformed patches a 400', async (t) => {
  const document = { foo: 'bar', list: [1, 2], nested: { a: 1 } }
  const unapplicable: Array<[string, JsonValue, RegExp]> = [
    ['A.9 failed test', [{ op: 'test', path: '/foo', value: 'baz' }], /test operation failed at "\/foo"/],
    ['A.12 add to a missing parent', [{ op: 'add', path: '/baz/bat', value: 'qux' }], /add operation does not apply: doc is missing path: "\/baz\/bat"/],
    ['A.15 strings are not numbers', [{ op: 'test', path: '/list/0', value: '1' }], /test operation failed/],
    ['remove a missing member', [{ op: 'remove', path: '/nope' }], /remove operation does not apply/],
    ['replace a missing member', [{ op: 'replace', path: '/spec/x', value: 1 }], /replace operation does not apply: doc is missing path: "\/spec\/x"/],
    ['index past the end', [{ op: 'add', path: '/list/3', value: 0 }], /doc is missing path/],
    ['leading zero index', [{ op: 'replace', path: '/list/01', value: 0 }], /doc is missing path/],
    ['append position is not a value', [{ op: 'remove', path: '/list/-' }], /doc is missing path/],
    ['pointer without a slash', [{ op: 'add', path: 'foo', value: 1 }], /invalid JSON pointer "foo"/],
    ['bad escape', [{ op: 'add', path: '/a~2', value: 1 }], /invalid JSON pointer/],
    ['move into its own child', [{ op: 'move', from: '/nested', path: '/nested/b' }], /cannot move "\/nested" into its own child/],
    ['move from a missing path', [{ op: 'move', from: '/nope', path: '/x' }], /move operation does not apply: doc is missing from path: "\/nope"/],
    ['copy from a missing path', [{ op: 'copy', from: '/nope', path: '/x' }], /copy operation does not apply: doc is missing from path: "\/nope"/],
    ['remove the document', [{ op: 'remove', path: '' }], /cannot remove the whole document/],
    ['atomic: a later failure undoes earlier operations', [{ op: 'add', path: '/x', value: 1 }, { op: 'test', path: '/x', value: 2 }], /test operation failed/],
  ]
  for (const [name, patch, message] of unapplicable) {
    t.throws(() => applyJsonPatch(document, patch), { name: 'ApiError', code: 422, reason: 'Invalid', message: REJECTED }, name)
    t.throws(() => applyJsonPatch(document, patch), { message }, name)
  }
  t.same(document, { foo: 'bar', list: [1, 2], nested: { a: 1 } }, 'the document is untouched')

  const malformed: Array<[string, unknown, RegExp]> = [
    ['not a list', { op: 'add', path: '/a', value: 1 }, /must be a list of operations/],
    ['not an object', ['add'], /operation 0 is not an object/],
    ['unknown op', [{ op: 'merge', path: '/a' }], /unknown op: "merge"/],
    ['no op', [{ path: '/a' }], /unknown op: none/],
    ['no path', [{ op: 'remove' }], /has no "path"/],
    ['add without a value', [{ op: 'add', path: '/a' }], /has no "value"/],
    ['move without from', [{ op: 'move', path: '/a' }], /has no "from"/],
  ]
  for (const [name, patch, message] of malformed) t.throws(() => applyJsonPatch(document, patch), { name: 'ApiError', code: 400, reason: 'BadRequest', message }, name)
  const tooMany = Array.from({ length: MAX_JSON_PATCH_OPERATIONS + 1 }, () => ({ op: 'test', path: '/foo', value: 'bar' }))
  t.throws(() => applyJsonPatch(document, tooMany), { code: 413, message: 'Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001' })
  t.throws(() => applyPatch('json', document, [{ op: 'replace', path: '', value: [1] }]), { code: 422, message: /not a JSON object/ })
})

t.test('JSON merge patch: the RFC 7386 examples and kubectl label/scale', async (t) => {
  const cases: Array<[JsonValue, JsonValue, JsonValue]> = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [['a', 'b'], ['c', 'd'], ['c', 'd']],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
    // kubectl label tier=web, kubectl label tier-, kubectl scale (on /scale), kubectl annotate.
    [{ metadata: { name: 'x', labels: { app: 'web' } } }, { metadata: { labels: { tier: 'web' } } }, { metadata: { name: 'x', labels: { app: 'web', tier: 'web' } } }],
    [{ metadata: { labels: { app: 'web', tier: 'web' } } }, { metadata: { labels: { tier: null } } }, { metadata: { labels: { app: 'web' } } }],
    [{ spec: { replicas: 1 }, status: { replicas: 1 } }, { spec: { replicas: 3 } }, { spec: { replicas: 3 }, status: { replicas: 1 } }],
  ]
  for (const [target, patch, expected] of cases) t.same(applyMergePatch(target, patch), expected, `${JSON.stringify(target)} + ${JSON.stringify(patch)}`)
  t.throws(() => applyPatch('merge', {}, ['x']), { code: 400, message: 'a merge patch must be a JSON object' })
})

const deployment: JsonObject = {
  metadata: { name: 'web', labels: { app: 'web' }, finalizers: ['a', 'b'], annotations: { 'deployment.kubernetes.io/revision': '1' } },
  spec: {
    replicas: 2,
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: {
        containers: [
          {
            name: 'web',
            image: 'nginx:1.20',
            args: ['--a'],
            ports: [{ containerPort: 80, protocol: 'TCP' }, { containerPort: 443, protocol: 'TCP' }],
            env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }, { name: 'C', value: '3' }],
            volumeMounts: [{ name: 'data', mountPath: '/data' }],
          },
          { name: 'sidecar', image: 'envoy:1' },
        ],
        volumes: [{ name: 'data', emptyDir: {} }],
        tolerations: [{ key: 'a', operator: 'Exists' }],
      },
    },
  },
  status: { conditions: [{ type: 'Available', status: 'True' }, { type: 'Progressing', status: 'True' }] },
}

/** A copy of the deployment with `edit` applied to it. */
function expectDeployment(edit: (copy: any) => void): JsonObject {
  const copy = structuredClone(deployment)
  edit(copy)
  return copy
}

t.test('strategic merge patch: the patches kubectl and helm send', async (t) => {
  const cases: Array<[string, JsonValue, JsonObject]> = [
    [
      'kubectl set image (with $setElementOrder)',
      {
        metadata: { annotations: { 'kubernetes.io/change-cause': 'kubectl set image deployment/web web=nginx:1.21' } },
        spec: { template: { spec: { '$setElementOrder/containers': [{ name: 'web' }, { name: 'sidecar' }], containers: [{ image: 'nginx:1.21', name: 'web' }] } } },
      },
      expectDeployment((d) => {
        d.metadata.annotations['kubernetes.io/change-cause'] = 'kubectl set image deployment/web web=nginx:1.21'
        d.spec.template.spec.containers[0].image = 'nginx:1.21'
      }),
    ],
    [
      'kubectl apply: a new container at the end, per $setElementOrder',
      { spec: { template: { spec: { '$setElementOrder/containers': [{ name: 'web' }, { name: 'sidecar' }, { name: 'log' }], containers: [{ name: 'log', image: 'fluent:1' }] } } } },
      expectDeployment((d) => d.spec.template.spec.containers.push({ name: 'log', image: 'fluent:1' })),
    ],
    [
      'without $setElementOrder a new element goes first, as on a real server',
      { spec: { template: { spec: { containers: [{ name: 'log', image: 'fluent:1' }] } } } },
      expectDeployment((d) => d.spec.template.spec.containers.unshift({ name: 'log', image: 'fluent:1' })),
    ],
    [
      'kubectl apply: a removed container ($patch: delete) and the new order',
      { spec: { template: { spec: { '$setElementOrder/containers': [{ name: 'web' }], containers: [{ $patch: 'delete', name: 'sidecar' }] } } } },
      expectDeployment((d) => d.spec.template.spec.containers.pop()),
    ],
    [
      'env merged by name inside a container merged by name, reordered by $setElementOrder',
      {
        spec: {
          template: {
            spec: {
              containers: [{ name: 'web', '$setElementOrder/env': [{ name: 'C' }, { name: 'A' }, { name: 'B' }, { name: 'D' }], env: [{ name: 'A', value: '10' }, { name: 'D', value: '4' }] }],
            },
          },
        },
      },
      expectDeployment((d) => {
        d.spec.template.spec.containers[0].env = [{ name: 'C', value: '3' }, { name: 'A', value: '10' }, { name: 'B', value: '2' }, { name: 'D', value: '4' }]
      }),
    ],
    [
      'container ports by containerPort; args and tolerations are replaced; null deletes',
      {
        spec: {
          replicas: null,
          template: { spec: { tolerations: [{ key: 'b', operator: 'Exists' }], containers: [{ name: 'web', args: ['--b'], ports: [{ containerPort: 443, name: 'https' }] }] } },
        },
      },
      expectDeployment((d) => {
        delete d.spec.replicas
        d.spec.template.spec.tolerations = [{ key: 'b', operator: 'Exists' }]
        d.spec.template.spec.containers[0].args = ['--b']
        d.spec.template.spec.containers[0].ports[1].name = 'https'
      }),
    ],
    [
      'kubectl apply switching strategy to Recreate ($retainKeys)',
      { spec: { strategy: { $retainKeys: ['type'], rollingUpdate: null, type: 'Recreate' } } },
      expectDeployment((d) => {
        d.spec.strategy = { type: 'Recreate' }
      }),
    ],
    [
      'kubectl apply switching a volume from emptyDir to configMap ($retainKeys in a list element)',
      { spec: { template: { spec: { '$setElementOrder/volumes': [{ name: 'data' }], volumes: [{ $retainKeys: ['configMap', 'name'], configMap: { name: 'cfg' }, emptyDir: null, name: 'data' }] } } } },
      expectDeployment((d) => {
        d.spec.template.spec.volumes = [{ name: 'data', configMap: { name: 'cfg' } }]
      }),
    ],
    [
      'finalizers merge as a set; $deleteFromPrimitiveList removes',
      { metadata: { finalizers: ['c', 'a'], '$deleteFromPrimitiveList/finalizers': ['b'] } },
      expectDeployment((d) => {
        d.metadata.finalizers = ['c', 'a']
      }),
    ],
    [
      'status conditions merge by type',
      { status: { conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }] } },
      expectDeployment((d) => {
        d.status.conditions[1] = { type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }
      }),
    ],
    [
      '$patch: replace in a list makes the patch the whole list',
      { spec: { template: { spec: { containers: [{ name: 'only', image: 'busybox', command: null }, { $patch: 'replace' }] } } } },
      expectDeployment((d) => {
        d.spec.template.spec.containers = [{ name: 'only', image: 'busybox' }]
      }),
    ],
    [
      '$patch: replace in a map replaces it; $patch: delete empties it',
      { metadata: { labels: { $patch: 'replace', tier: 'x' }, annotations: { $patch: 'delete' } } },
      expectDeployment((d) => {
        d.metadata.labels = { tier: 'x' }
        d.metadata.annotations = {}
      }),
    ],
    [
      'new fields: nulls dropped and directives carried out, a deleted new map left out',
      { spec: { paused: true, selector: { matchLabels: { app: 'web', gone: null } }, minReadySeconds: null, template: { spec: { nodeSelector: { $patch: 'delete' } } } } },
      expectDeployment((d) => {
        d.spec.paused = true
        d.spec.selector = { matchLabels: { app: 'web' } }
      }),
    ],
  ]
  for (const [name, patch, expected] of cases) {
    const before = structuredClone(deployment)
    const patchCopy = structuredClone(patch)
    t.same(applyStrategicMergePatch(deployment, patch), expected, name)
    t.same(deployment, before, `${name}: the original is untouched`)
    t.same(patch, patchCopy, `${name}: the patch is untouched`)
  }
})

t.test('strategic merge patch: Service ports merge by port, owner references by uid', async (t) => {
  const service = { spec: { selector: { app: 'web', tier: 'x' }, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }, { port: 443, targetPort: 8443, protocol: 'TCP' }] } }
  t.same(applyStrategicMergePatch(service, { spec: { selector: { tier: null }, ports: [{ port: 80, targetPort: 9090 }] } }), {
    spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 9090, protocol: 'TCP' }, { port: 443, targetPort: 8443, protocol: 'TCP' }] },
  })
  const pod = { metadata: { ownerReferences: [{ uid: 'u1', kind: 'ReplicaSet', name: 'a' }] } }
  t.same(applyStrategicMergePatch(pod, { metadata: { ownerReferences: [{ uid: 'u1', controller: true }] } }), {
    metadata: { ownerReferences: [{ uid: 'u1', kind: 'ReplicaSet', name: 'a', controller: true }] },
  })
  t.same(applyStrategicMergePatch(pod, { metadata: { ownerReferences: [{ uid: 'u1', $patch: 'delete' }] } }), { metadata: { ownerReferences: [] } })
})

t.test('the default merge keys follow the Kubernetes OpenAPI extensions', async (t) => {
  const cases: Array<[string, string | undefined]> = [
    ['spec.containers', 'name'],
    ['spec.template.spec.initContainers', 'name'],
    ['spec.jobTemplate.spec.template.spec.ephemeralContainers', 'name'],
    ['spec.template.spec.containers.ports', 'containerPort'],
    ['spec.ports', 'port'],
    ['spec.ingress.ports', undefined],
    ['spec.containers.env', 'name'],
    ['spec.containers.envFrom', undefined],
    ['spec.containers.volumeMounts', 'mountPath'],
    ['spec.containers.volumeDevices', 'devicePath'],
    ['spec.volumes', 'name'],
    ['spec.imagePullSecrets', 'name'],
    ['spec.tolerations', undefined],
    ['spec.containers.args', undefined],
    ['metadata.ownerReferences', 'uid'],
    ['metadata.finalizers', MERGE_AS_SET],
    ['spec.finalizers', undefined],
    ['status.conditions', 'type'],
    ['spec.hostAliases', 'ip'],
    ['spec.topologySpreadConstraints', 'topologyKey'],
  ]
  for (const [path, expected] of cases) t.equal(defaultMergeKeyOf(path.split('.')), expected, path)
  // A custom schema: merge `items` by `id`.
  const custom = (path: readonly string[]): string | undefined => (path.join('.') === 'spec.items' ? 'id' : undefined)
  t.same(applyStrategicMergePatch({ spec: { items: [{ id: 1, a: 1 }, { id: 2 }] } }, { spec: { items: [{ id: 1, b: 2 }] } }, custom), { spec: { items: [{ id: 1, a: 1, b: 2 }, { id: 2 }] } })
})

t.test('strategic merge patch: malformed patches are refused', async (t) => {
  const cases: Array<[string, unknown, number, RegExp]> = [
    ['not an object', [1], 400, /invalid JSON document/],
    ['unknown $patch in a map', { metadata: { labels: { $patch: 'bogus' } } }, 400, /unknown patch type: "bogus" in map/],
    ['unknown $patch in a list', { spec: { template: { spec: { containers: [{ $patch: 'bogus', name: 'web' }] } } } }, 400, /unknown patch type/],
    ['list element without its merge key', { spec: { template: { spec: { containers: [{ image: 'x' }] } } } }, 400, /does not contain declared merge key: name/],
    ['$patch: delete without the merge key', { spec: { template: { spec: { containers: [{ $patch: 'delete' }] } } } }, 400, /does not contain declared merge key/],
    ['$retainKeys not a list', { spec: { strategy: { $retainKeys: 'type' } } }, 400, /invalid patch format of retainKeys/],
    ['$retainKeys not covering the patch', { spec: { strategy: { $retainKeys: ['type'], rollingUpdate: { maxSurge: 1 } } } }, 422, /patch content doesn't match retainKeys list/],
    ['$setElementOrder not a list', { spec: { template: { spec: { '$setElementOrder/containers': { name: 'web' } } } } }, 400, /invalid patch format of setElementOrder list/],
    [
      'patch list out of $setElementOrder order',
      { spec: { template: { spec: { '$setElementOrder/containers': [{ name: 'web' }, { name: 'sidecar' }], containers: [{ name: 'sidecar' }, { name: 'web' }] } } } },
      400,
      /doesn't match \$setElementOrder list/,
    ],
    ['$deleteFromPrimitiveList not a list', { metadata: { '$deleteFromPrimitiveList/finalizers': 'a' } }, 400, /invalid patch format of primitive list/],
    ['lists of lists', { metadata: { finalizers: [['a']] } }, 422, /lists of lists are not supported/],
    ['mixed element types', { metadata: { finalizers: [{ a: 1 }] } }, 400, /list element types are not identical/],
  ]
  for (const [name, patch, code, message] of cases) t.throws(() => applyStrategicMergePatch(deployment, patch), { name: 'ApiError', code, message }, name)
})

t.test('the Content-Type selects the patch format; others are a 415', async (t) => {
  const builtIn: PatchType[] = ['json', 'merge', 'strategic', 'apply']
  const cases: Array<[string | undefined, PatchType]> = [
    ['application/json-patch+json', 'json'],
    ['application/merge-patch+json; charset=utf-8', 'merge'],
    ['Application/Strategic-Merge-Patch+JSON', 'strategic'],
    ['application/apply-patch+yaml', 'apply'],
  ]
  for (const [contentType, expected] of cases) t.equal(patchTypeFromContentType(contentType, builtIn), expected, String(contentType))
  t.throws(() => patchTypeFromContentType('application/json', builtIn), {
    code: 415,
    reason: 'UnsupportedMediaType',
    message:
      'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml',
  })
  t.throws(() => patchTypeFromContentType(undefined, builtIn), { code: 415 })
  t.throws(() => patchTypeFromContentType('application/strategic-merge-patch+json', ['json', 'merge', 'apply']), { code: 415 }, 'no strategic merge patch for custom resources')
  t.same(applyPatch('strategic', { a: [1] }, { a: [2] }), { a: [2] })
  t.same(applyPatch('merge', { a: 1 }, { b: 2 }), { a: 1, b: 2 })
})
