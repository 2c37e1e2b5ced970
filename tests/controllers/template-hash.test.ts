// Goal: pod-template hashes are FNV-1a based, stable under key order and null fields, blind to
// their own label, changed by the collision count, and spelled in Kubernetes' safe alphabet.
// Method: published FNV-1a test vectors, and properties over crafted templates.
import t from 'tap'
import { GENERATED_NAME_ALPHABET } from '../../node/src/api/machinery/names.ts'
import { computePodTemplateHash, fnv32a, POD_TEMPLATE_HASH_LABEL, safeEncodeString, templateWithoutHash } from '../../node/src/controllers/template-hash.ts'
import { podTemplate } from './fixtures.ts'

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)

t.test('fnv32a matches the published FNV-1a 32-bit vectors', async (t) => {
  t.equal(fnv32a(utf8('')), 0x811c9dc5)
  t.equal(fnv32a(utf8('a')), 0xe40c292c)
  t.equal(fnv32a(utf8('foobar')), 0xbf9cf968)
  t.equal(fnv32a(utf8('bar'), fnv32a(utf8('foo'))), fnv32a(utf8('foobar')), 'hashing continues from a previous sum')
})

t.test('safeEncodeString maps decimal digits into the vowel-free alphabet', async (t) => {
  // '0' is char code 48; 48 mod 27 = 21, the 22nd letter of bcdfghjklmnpqrstvwxz2456789.
  t.equal(safeEncodeString('0123456789'), '456789bcdf')
  t.ok([...safeEncodeString('4294967295')].every((char) => GENERATED_NAME_ALPHABET.includes(char)))
})

t.test('computePodTemplateHash ignores key order, null fields and its own label', async (t) => {
  const template = podTemplate('web', 'nginx:1.20')
  const hash = computePodTemplateHash(template, undefined)
  t.match(hash, /^[bcdfghjklmnpqrstvwxz2456789]{1,10}$/)
  const reordered = { spec: template['spec'] ?? null, metadata: { creationTimestamp: null, labels: { app: 'web' } } }
  t.equal(computePodTemplateHash(reordered, undefined), hash, '`rollout undo` sends creationTimestamp: null')
  const labelled = { ...template, metadata: { labels: { app: 'web', [POD_TEMPLATE_HASH_LABEL]: hash } } }
  t.equal(computePodTemplateHash(labelled, undefined), hash, 'a ReplicaSet template hashes like its Deployment template')
  t.same(templateWithoutHash(labelled), template)
})

t.test('computePodTemplateHash changes with the template and with the collision count', async (t) => {
  const template = podTemplate('web', 'nginx:1.20')
  const hashes = new Set([
    computePodTemplateHash(template, undefined),
    computePodTemplateHash(podTemplate('web', 'nginx:1.21'), undefined),
    computePodTemplateHash(template, 0),
    computePodTemplateHash(template, 1),
  ])
  t.equal(hashes.size, 4, 'an image change and each collision count give a new name')
  t.equal(computePodTemplateHash(template, 1), computePodTemplateHash(template, 1), 'deterministic')
})
