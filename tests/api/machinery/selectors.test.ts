// Goal: label and field selectors select what a real API server selects, and reject what it
// rejects with the same message. Method: tables of (selector, labels, expected match) including the
// selectors real kubectl and helm send, tables of malformed selectors with the exact error text,
// and LabelSelector objects (nil = nothing, empty = everything).
import t from 'tap'
import {
  allowFieldLabels,
  EVERYTHING,
  fieldValue,
  labelSelectorErrors,
  labelSelectorFromObject,
  parseFieldSelector,
  parseLabelSelector,
  type LabelSelectorObject,
} from '../../../node/src/api/machinery/selectors.ts'
import { formatFieldError } from '../../../node/src/api/machinery/field-errors.ts'

const NAME_PART =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
const LABEL_VALUE =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"

type Labels = Record<string, string> | undefined

t.test('label selectors match like the real parser', async (t) => {
  const cases: Array<[string, Labels, boolean]> = [
    ['', undefined, true],
    ['   ', { a: 'b' }, true],
    ['app=web', { app: 'web', tier: 'x' }, true],
    ['app=web', { app: 'db' }, false],
    ['app=web', {}, false],
    ['app==web', { app: 'web' }, true],
    ['app!=web', {}, true],
    ['app!=web', { app: 'web' }, false],
    ['app!=web', { app: 'db' }, true],
    ['app in (web,db)', { app: 'db' }, true],
    ['app in (web,db)', { app: 'cache' }, false],
    ['app in (web,db)', undefined, false],
    ['app notin (web)', {}, true],
    ['app notin (web)', { app: 'web' }, false],
    ['app', { app: '' }, true],
    ['app', { other: 'x' }, false],
    ['!app', { other: 'x' }, true],
    ['!app', { app: 'x' }, false],
    // Sent by kubectl rollout history/undo, logs deploy/…, helm --wait, and helm's release storage.
    ['app in (web),!foo', { app: 'web' }, true],
    ['app in (web),!foo', { app: 'web', foo: '1' }, false],
    ['name=demo,owner=helm,status=deployed', { name: 'demo', owner: 'helm', status: 'deployed', version: '3' }, true],
    ['name=demo,owner=helm,status=deployed', { name: 'demo', owner: 'helm', status: 'superseded' }, false],
    // Whitespace between tokens, and commas inside parentheses.
    ['  app  in  ( web , db ) , tier != cache ', { app: 'db', tier: 'front' }, true],
    ['  app  in  ( web , db ) , tier != cache ', { app: 'db', tier: 'cache' }, false],
    ['x in (foo,,baz),y,z notin ()', { x: '', y: '1' }, true],
    ['x in (foo,,baz),y,z notin ()', { x: 'baz', y: '1', z: '' }, false],
    ['x in (foo,,baz),y,z notin ()', { x: 'qux', y: '1' }, false],
    ['env=', { env: '' }, true],
    ['env=', { env: 'prod' }, false],
    ['app.kubernetes.io/name=web', { 'app.kubernetes.io/name': 'web' }, true],
    ['in in (in,notin)', { in: 'notin' }, true],
    ['a>5', { a: '6' }, true],
    ['a>5', { a: '5' }, false],
    ['a>5', { a: 'x' }, false],
    ['a>5', {}, false],
    ['a<10', { a: '9' }, true],
    ['a<10', { a: '10' }, false],
    ['a<10', { a: '-20' }, true],
  ]
  for (const [text, labels, expected] of cases) {
    t.equal(parseLabelSelector(text).matches(labels), expected, `${JSON.stringify(text)} on ${JSON.stringify(labels)}`)
  }
})

t.test('parsed selectors print canonically and expose exact matches', async (t) => {
  const selector = parseLabelSelector('b=2, tier in (y,x,y), !c, a')
  t.equal(selector.toString(), 'a,b=2,!c,tier in (x,y)')
  t.same(selector.requirements.map((requirement) => requirement.key), ['a', 'b', 'c', 'tier'])
  t.equal(selector.requiresExactMatch('b'), '2')
  t.equal(selector.requiresExactMatch('tier'), undefined)
  t.equal(parseLabelSelector('app in (web)').requiresExactMatch('app'), 'web')
  t.equal(parseLabelSelector('a>1,b<2,c==3,d!=4').toString(), 'a>1,b<2,c==3,d!=4')
  t.ok(parseLabelSelector('').isEmpty())
  t.notOk(parseLabelSelector('a').isEmpty())
  t.equal(parseLabelSelector(parseLabelSelector(' x notin ( b , a ) ').toString()).toString(), 'x notin (a,b)', 'round trip')
})

t.test('malformed label selectors are a 400 with the real server message', async (t) => {
  const cases: Array<[string, string]> = [
    ['a in (x', "unable to parse requirement: found '', expected: ',' or ')'"],
    ['app:monolith', `unable to parse requirement: <nil>: Invalid value: "app:monolith": ${NAME_PART}`],
    [
      'app.kubernetes_io/name=vault',
      "unable to parse requirement: <nil>: Invalid value: \"app.kubernetes_io/name\": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    ],
    ['a=b c', "found 'c', expected: ',' or 'end of string'"],
    [',a', "found ',', expected: !, identifier, or 'end of string'"],
    ['a,', "found '', expected: identifier after ','"],
    ['a=b,,c', "found ',', expected: identifier after ','"],
    ['a in x', "unable to parse requirement: found 'x' expected: '('"],
    ['a (b)', "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt"],
    ['a=b=c', "found '=', expected: ',' or 'end of string'"],
    ['a=(', "unable to parse requirement: found '(', expected: identifier"],
    ['!a=b', "found '=', expected: ',' or 'end of string'"],
    ['!', "unable to parse requirement: found '', expected: identifier"],
    ['a in (x y)', "unable to parse requirement: found 'y', expected: ',' or ')'"],
    ['a in (=)', "unable to parse requirement: found '=', expected: ',', ')' or identifier"],
    ['a in (x,=)', "unable to parse requirement: found '=', expected: ',', or identifier"],
    ['a=b_', `unable to parse requirement: values[0][a]: Invalid value: "b_": ${LABEL_VALUE}`],
    ['a>x', `unable to parse requirement: values[0]: Invalid value: "x": for 'Gt', 'Lt' operators, the value must be an integer`],
    ['a>', `unable to parse requirement: values[0]: Invalid value: "": for 'Gt', 'Lt' operators, the value must be an integer`],
    [
      'a>b_',
      `unable to parse requirement: [values[0]: Invalid value: "b_": for 'Gt', 'Lt' operators, the value must be an integer, values[0][a]: Invalid value: "b_": ${LABEL_VALUE}]`,
    ],
    ['a<-1', `unable to parse requirement: values[0][a]: Invalid value: "-1": ${LABEL_VALUE}`],
    ['a>99999999999999999999', `unable to parse requirement: values[0]: Invalid value: "99999999999999999999": for 'Gt', 'Lt' operators, the value must be an integer`],
  ]
  for (const [text, message] of cases) {
    t.throws(() => parseLabelSelector(text), { name: 'ApiError', code: 400, reason: 'BadRequest', message }, text)
  }
})

t.test('LabelSelector objects: absent selects nothing, empty selects everything', async (t) => {
  t.notOk(labelSelectorFromObject(undefined).matches({}))
  t.notOk(labelSelectorFromObject(null).matches({ app: 'web' }))
  t.ok(labelSelectorFromObject({}).matches({ app: 'web' }))
  t.ok(labelSelectorFromObject({ matchLabels: {}, matchExpressions: [] }).matches(undefined))
  t.ok(EVERYTHING.matches(undefined))
  const selector: LabelSelectorObject = {
    matchLabels: { app: 'web' },
    matchExpressions: [
      { key: 'tier', operator: 'In', values: ['front', 'edge'] },
      { key: 'canary', operator: 'DoesNotExist' },
      { key: 'zone', operator: 'Exists' },
      { key: 'env', operator: 'NotIn', values: ['dev'] },
    ],
  }
  const cases: Array<[Labels, boolean]> = [
    [{ app: 'web', tier: 'edge', zone: 'z1' }, true],
    [{ app: 'web', tier: 'edge', zone: 'z1', env: 'prod' }, true],
    [{ app: 'web', tier: 'edge', zone: 'z1', env: 'dev' }, false],
    [{ app: 'web', tier: 'edge', zone: 'z1', canary: 'true' }, false],
    [{ app: 'web', tier: 'back', zone: 'z1' }, false],
    [{ app: 'web', tier: 'edge' }, false],
    [{ tier: 'edge', zone: 'z1' }, false],
  ]
  const parsed = labelSelectorFromObject(selector)
  for (const [labels, expected] of cases) t.equal(parsed.matches(labels), expected, JSON.stringify(labels))
  t.equal(parsed.toString(), 'app=web,!canary,env notin (dev),tier in (front,edge),zone')
})

t.test('invalid LabelSelector objects give field errors worded like workload validation', async (t) => {
  const cases: Array<[LabelSelectorObject, string[]]> = [
    [{ matchLabels: { app: 'web' } }, []],
    [{ matchExpressions: [{ key: 'a', operator: 'Foo' }] }, ['spec.selector.matchExpressions[0].operator: Invalid value: "Foo": not a valid selector operator']],
    [{ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }, ["spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'"]],
    [{ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] }, ["spec.selector.matchExpressions[0].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'"]],
    [{ matchLabels: { 'a b': 'c d' } }, [`spec.selector.matchLabels: Invalid value: "a b": ${NAME_PART}`, `spec.selector.matchLabels: Invalid value: "c d": ${LABEL_VALUE}`]],
    [{ matchExpressions: [{ key: 'a', operator: 'In', values: ['ok', '-no'] }] }, [`spec.selector.matchExpressions[0].values[1]: Invalid value: "-no": ${LABEL_VALUE}`]],
  ]
  for (const [selector, expected] of cases) t.same(labelSelectorErrors(selector, 'spec.selector').map(formatFieldError), expected, JSON.stringify(selector))
  t.throws(() => labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'Foo' }] }), {
    name: 'ApiError',
    code: 400,
    message: 'matchExpressions[0].operator: Invalid value: "Foo": not a valid selector operator',
  })
})

t.test('field selectors on dotted paths, with per-resource allow-lists', async (t) => {
  const pods = allowFieldLabels(['spec.nodeName', 'status.phase'])
  const pending = { metadata: { name: 'web-1', namespace: 'default' }, spec: {}, status: { phase: 'Pending' } }
  const running = { metadata: { name: 'web-2', namespace: 'default' }, spec: { nodeName: 'node-1' }, status: { phase: 'Running' } }
  const cases: Array<[string, object, boolean]> = [
    ['', pending, true],
    ['metadata.name=web-1', pending, true],
    ['metadata.name=web-1', running, false],
    ['metadata.name==web-2', running, true],
    ['metadata.namespace=default,metadata.name!=web-1', running, true],
    ['spec.nodeName=', pending, true],
    ['spec.nodeName=', running, false],
    ['status.phase!=Running,spec.nodeName==node-1', running, false],
    ['status.phase!=Succeeded,spec.nodeName==node-1', running, true],
  ]
  for (const [text, object, expected] of cases) t.equal(parseFieldSelector(text, pods).matches(object), expected, `${text} on ${(object as typeof pending).metadata.name}`)

  const events = allowFieldLabels(['involvedObject.kind', 'involvedObject.name', 'involvedObject.namespace', 'involvedObject.uid'])
  const event = { involvedObject: { kind: 'Pod', name: 'a,b=c', uid: 'u1' } }
  t.ok(parseFieldSelector('involvedObject.kind=Pod,involvedObject.uid=u1', events).matches(event))
  t.ok(parseFieldSelector('involvedObject.name=a\\,b\\=c', events).matches(event), 'escaped commas and equals signs')
  const escaped = parseFieldSelector('involvedObject.name=a\\,b\\=c,involvedObject.kind!=Node', events)
  t.equal(escaped.toString(), 'involvedObject.kind!=Node,involvedObject.name=a\\,b\\=c')
  t.equal(escaped.requiresExactMatch('involvedObject.name'), 'a,b=c')
  t.equal(escaped.requiresExactMatch('involvedObject.kind'), undefined)
  t.ok(parseFieldSelector('', pods).isEmpty())
  t.equal(fieldValue({ spec: { replicas: 3, paused: false } }, 'spec.replicas'), '3')
  t.equal(fieldValue({ spec: { replicas: 3, paused: false } }, 'spec.paused'), 'false')
  t.equal(fieldValue({ spec: { template: {} } }, 'spec.template'), '')
  t.equal(fieldValue(null, 'metadata.name'), '')
})

t.test('malformed or unsupported field selectors are a 400 with the real server message', async (t) => {
  const pods = allowFieldLabels(['spec.nodeName'])
  const cases: Array<[string, string]> = [
    ['foo', "invalid selector: 'foo'; can't understand 'foo'"],
    ['metadata.name=a,bar', "invalid selector: 'metadata.name=a,bar'; can't understand 'bar'"],
    ['spec.foo=x', 'field label not supported: spec.foo'],
    ['metadata.name =x', 'field label not supported: metadata.name '],
    ['metadata.name=a=b', 'invalid field selector: unescaped character in value: 61'],
    ['metadata.name=a\\x', 'invalid field selector: invalid escape sequence: \\x'],
    ['metadata.name=a\\', 'invalid field selector: invalid escape sequence: \\'],
  ]
  for (const [text, message] of cases) t.throws(() => parseFieldSelector(text, pods), { name: 'ApiError', code: 400, reason: 'BadRequest', message }, text)
})
