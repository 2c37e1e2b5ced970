// Goal: tables and describe text are laid out exactly as kubectl lays them out (Go's tabwriter
// with kubectl's settings), so eyes and scripts used to kubectl read them the same way. Method:
// tables over alignTabs, renderTable and the object printers, with expected text written out.
import t from 'tap'
import { alignTabs, DESCRIBE_LAYOUT, TABLE_LAYOUT } from '../../node/src/kubectl/tab-writer.ts'
import { DEFAULT_TABLE_OPTIONS, renderTable, tableFromResponse } from '../../node/src/kubectl/table-printer.ts'
import { formatName, formatObject, listOf } from '../../node/src/kubectl/object-printer.ts'
import { DescribeWriter } from '../../node/src/kubectl/describe-writer.ts'
import { formatError, ServerError } from '../../node/src/kubectl/errors.ts'
import type { JsonObject } from '../../node/src/api/machinery/canonical.ts'

const POD_TABLE: JsonObject = {
  kind: 'Table',
  apiVersion: 'meta.k8s.io/v1',
  metadata: { resourceVersion: '42' },
  columnDefinitions: [
    { name: 'Name', type: 'string', format: 'name', priority: 0 },
    { name: 'Ready', type: 'string', format: '', priority: 0 },
    { name: 'Restarts', type: 'integer', format: '', priority: 0 },
    { name: 'IP', type: 'string', format: '', priority: 1 },
  ],
  rows: [
    { cells: ['web-7d4b9c-x2x9z', '1/1', 0, '10.0.0.12'], object: { kind: 'PartialObjectMetadata', metadata: { name: 'web-7d4b9c-x2x9z', namespace: 'default', labels: { app: 'web', tier: 'front' } } } },
    { cells: ['db-0', '0/1', 12, null], object: { kind: 'PartialObjectMetadata', metadata: { name: 'db-0', namespace: 'team-b' } } },
  ],
}

t.test('alignTabs pads column blocks like Go tabwriter', async (t) => {
  t.equal(alignTabs('a\tb\tc\nlonger\tb\tc\n', TABLE_LAYOUT), 'a        b     c\nlonger   b     c\n', 'min width 6, padding 3, last cell unpadded')
  // A line with fewer cells ends the column block: the lines after it are aligned on their own.
  t.equal(alignTabs('Name:\tweb\nPod Template:\n  Labels:\tapp=web\n', DESCRIBE_LAYOUT), 'Name:  web\nPod Template:\n  Labels:  app=web\n')
  t.equal(alignTabs('Labels:\tapp=web\n\ttier=front\nSelector:\tapp=web\n', DESCRIBE_LAYOUT), 'Labels:    app=web\n           tier=front\nSelector:  app=web\n', 'continuation lines share the block')
  t.equal(alignTabs('µs\tx\nab\ty\n', { minWidth: 0, padding: 1 }), 'µs x\nab y\n', 'widths count code points')
})

t.test('renderTable prints kubectl get tables', async (t) => {
  const table = tableFromResponse(POD_TABLE, 0)
  t.equal(table.resourceVersion, '42')
  t.equal(renderTable(table, DEFAULT_TABLE_OPTIONS), ['NAME               READY   RESTARTS', 'web-7d4b9c-x2x9z   1/1     0', 'db-0               0/1     12', ''].join('\n'))
  t.equal(
    renderTable(table, { ...DEFAULT_TABLE_OPTIONS, wide: true, withNamespace: true }),
    ['NAMESPACE   NAME               READY   RESTARTS   IP', 'default     web-7d4b9c-x2x9z   1/1     0          10.0.0.12', 'team-b      db-0               0/1     12         <none>', ''].join('\n'),
    '-o wide adds priority 1 columns; -A a NAMESPACE column from the row objects',
  )
  t.equal(
    renderTable(table, { ...DEFAULT_TABLE_OPTIONS, noHeaders: true, showLabels: true, namePrefix: 'pod/' }),
    ['pod/web-7d4b9c-x2x9z   1/1   0     app=web,tier=front', 'pod/db-0               0/1   12    <none>', ''].join('\n'),
  )
  const plain = tableFromResponse({ kind: 'ConfigMapList', items: [{ metadata: { name: 'demo', creationTimestamp: '2026-01-01T00:00:00Z' } }] }, Date.parse('2026-01-01T00:05:02Z'))
  t.equal(renderTable(plain, DEFAULT_TABLE_OPTIONS), 'NAME   AGE\ndemo   5m2s\n', 'a server without tables gets NAME and AGE')
})

t.test('object printers shape yaml, json and name output like kubectl', async (t) => {
  const object = { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'demo', creationTimestamp: '2026-01-01T00:00:00Z' }, data: { on: 'yes', list: 'a' } }
  t.equal(
    formatObject(object, 'yaml'),
    'apiVersion: v1\ndata:\n  list: a\n  "on": "yes"\nkind: ConfigMap\nmetadata:\n  creationTimestamp: "2026-01-01T00:00:00Z"\n  name: demo\n',
    'keys sorted; strings YAML 1.1 would misread are quoted',
  )
  t.equal(formatObject({ b: [{ y: 1, x: 2 }], a: true }, 'yaml'), 'a: true\nb:\n- x: 2\n  "y": 1\n', 'sequences flush under their key')
  t.equal(formatObject({ b: 1, a: { d: 2, c: 3 } }, 'json'), '{\n    "a": {\n        "c": 3,\n        "d": 2\n    },\n    "b": 1\n}\n', 'four-space JSON')
  t.equal(listOf([object])['kind'], 'List')
  t.equal(formatName({ group: 'apps', kind: 'Deployment' }, { metadata: { name: 'web' } }), 'deployment.apps/web')
  t.equal(formatName({ group: '', kind: 'ConfigMap' }, { metadata: { name: 'demo' } }), 'configmap/demo')
})

t.test('DescribeWriter lays out labels, annotations and sections like kubectl describe', async (t) => {
  const writer = new DescribeWriter()
  writer.field(0, 'Name', 'web')
  writer.labels('Labels', { tier: 'front', app: 'web' })
  writer.annotations('Annotations', { 'kubectl.kubernetes.io/last-applied-configuration': '{}', note: 'x'.repeat(150) })
  writer.flush()
  writer.line(0, 'Events:')
  writer.line(1, 'Type\tReason')
  t.equal(
    writer.toString(),
    ['Name:         web', 'Labels:       app=web', '              tier=front', `Annotations:  note: ${'x'.repeat(134)}...`, 'Events:', '  Type  Reason', ''].join('\n'),
  )
})

t.test('formatError prints Status errors like kubectl', async (t) => {
  t.equal(formatError(new ServerError(404, { reason: 'NotFound', message: 'deployments.apps "x" not found', code: 404 })), 'Error from server (NotFound): deployments.apps "x" not found')
  t.equal(formatError(new ServerError(500, { message: 'boom' })), 'Error from server: boom')
  const invalid = (causes: Array<{ field: string; message: string }>) => new ServerError(422, { reason: 'Invalid', message: '…', details: { kind: 'Deployment', name: 'web', causes } })
  t.equal(formatError(invalid([{ field: 'spec.replicas', message: 'Invalid value: -1: must be greater than or equal to 0' }])), 'The Deployment "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0')
  t.equal(formatError(invalid([{ field: 'a', message: 'x' }, { field: 'b', message: 'y' }])), 'The Deployment "web" is invalid: \n* a: x\n* b: y')
  t.equal(formatError(new TypeError('oops')), 'error: oops')
})
