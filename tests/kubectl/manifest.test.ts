// Goal: `apply -f` and `delete -f` read the manifests kubectl reads — multi-document YAML, JSON,
// List kinds, directories, stdin — and refuse broken ones before sending anything. Method: tables
// over splitManifest and readManifests on files in a temporary directory.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { readManifests, splitManifest } from '../../node/src/kubectl/manifest.ts'

const names = (objects: ReadonlyArray<{ metadata?: unknown }>): string[] => objects.map((object) => String((object.metadata as { name?: string }).name))

t.test('splitManifest splits YAML documents, JSON and Lists', async (t) => {
  const yaml = `# a leading comment
---
apiVersion: v1
kind: ConfigMap
metadata: {name: one}
---
---
# only a comment
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: ConfigMap, metadata: {name: two}}
- apiVersion: apps/v1
  kind: DeploymentList
  items:
  - {apiVersion: apps/v1, kind: Deployment, metadata: {name: three}}
`
  t.same(names(splitManifest(yaml, 'a.yaml')), ['one', 'two', 'three'], 'empty documents skipped, nested Lists flattened')
  t.same(names(splitManifest('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"json"}}', 'a.json')), ['json'])
  t.same(names(splitManifest('\t{"apiVersion": "v1",\n\t"kind": "ConfigMap", "metadata": {"name": "tabs"}}', 'a.json')), ['tabs'], 'JSON with tabs (not YAML-safe) is read as JSON')
  t.same(names(splitManifest('{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}]}', 'l.json')), ['s'])
  t.same(splitManifest('', 'empty.yaml'), [])
  t.equal((splitManifest('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {n: "1", on: yes}\n', 'x')[0]!['data'] as Record<string, unknown>)['n'], '1')
})

t.test('splitManifest refuses broken documents with their source and number', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['apiVersion: v1\nkind: [unclosed\n', /^bad.yaml: YAML document 1: /],
    ['{"apiVersion": ', /^bad.yaml: invalid JSON/],
    ['kind: ConfigMap\nmetadata: {name: x}\n', /error validating "bad.yaml" \(object 1\): \[apiVersion not set\]/],
    ['apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nmetadata: {}\n', /\(object 2\): \[kind not set, metadata.name not set\]/],
    ['- just\n- a list of strings\n', /object 1 is not a mapping/],
  ]
  for (const [text, message] of cases) t.throws(() => splitManifest(text, 'bad.yaml'), { name: 'CommandError', message }, text)
})

t.test('readManifests reads files, directories (in name order) and stdin', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-manifest-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const object = (name: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n`
  writeFileSync(join(dir, 'b.yaml'), object('b'))
  writeFileSync(join(dir, 'a.yml'), object('a'))
  writeFileSync(join(dir, 'c.json'), JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } }))
  writeFileSync(join(dir, 'notes.txt'), 'not a manifest')
  mkdirSync(join(dir, 'nested'))
  writeFileSync(join(dir, 'nested', 'd.yaml'), object('d'))
  const read = async (paths: string[], recursive = false, stdin = ''): Promise<string[]> => (await readManifests(paths, { recursive, readStdin: async () => stdin })).map((entry) => `${String((entry.object['metadata'] as { name: string }).name)}@${entry.source.replace(dir, '')}`)
  t.same(await read([dir]), ['a@/a.yml', 'b@/b.yaml', 'c@/c.json'], 'manifest extensions only, no subdirectories')
  t.same(await read([dir], true), ['a@/a.yml', 'b@/b.yaml', 'c@/c.json', 'd@/nested/d.yaml'], '-R descends')
  t.same(await read([join(dir, 'b.yaml'), '-'], false, object('from-stdin')), ['b@/b.yaml', 'from-stdin@-'])
  await t.rejects(read([join(dir, 'missing.yaml')]), /the path ".*missing.yaml" does not exist/)
  await t.rejects(read([]), /must specify one of -f/)
  mkdirSync(join(dir, 'empty'))
  await t.rejects(read([join(dir, 'empty')]), /no objects found/)
  t.same(await read([join(dir, 'nested')]), ['d@/nested/d.yaml'], 'a directory named on the command line is read')
})
