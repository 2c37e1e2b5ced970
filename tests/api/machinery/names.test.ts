// Goal: name checks accept exactly what Kubernetes accepts and word their problems exactly as
// Kubernetes does; generateName draws from the Kubernetes alphabet through the injected Random.
// Method: tables of names and expected messages (copied from real API server output), and a
// seeded and a scripted Random for generateName.
import t from 'tap'
import { RandomXoshiro, type Random } from '../../../lib/random.ts'
import {
  dns1035LabelErrors,
  dns1123LabelErrors,
  dns1123SubdomainErrors,
  generateName,
  GENERATED_NAME_ALPHABET,
  labelValueErrors,
  nameIsDnsSubdomain,
  pathSegmentNameErrors,
  qualifiedNameErrors,
} from '../../../node/src/api/machinery/names.ts'

const SUBDOMAIN_MESSAGE =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
const LABEL_MESSAGE =
  "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
const DNS1035_MESSAGE =
  "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
const NAME_PART_MESSAGE =
  "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
const LABEL_VALUE_MESSAGE =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"

t.test('DNS-1123 subdomains', async (t) => {
  const cases: Array<[string, string[]]> = [
    ['web', []],
    ['web-1.example.com', []],
    ['a'.repeat(253), []],
    ['Web', [SUBDOMAIN_MESSAGE]],
    ['-web', [SUBDOMAIN_MESSAGE]],
    ['web.', [SUBDOMAIN_MESSAGE]],
    ['', [SUBDOMAIN_MESSAGE]],
    ['a'.repeat(254), ['must be no more than 253 characters']],
    ['A'.repeat(254), ['must be no more than 253 characters', SUBDOMAIN_MESSAGE]],
  ]
  for (const [name, expected] of cases) t.same(dns1123SubdomainErrors(name), expected, name.slice(0, 20))
})

t.test('DNS-1123 and DNS-1035 labels', async (t) => {
  const cases: Array<[string, string[], string[]]> = [
    ['default', [], []],
    ['kube-system', [], []],
    ['1abc', [], [DNS1035_MESSAGE]],
    ['a.b', [LABEL_MESSAGE], [DNS1035_MESSAGE]],
    ['a'.repeat(63), [], []],
    ['a'.repeat(64), ['must be no more than 63 characters'], ['must be no more than 63 characters']],
    ['é', [LABEL_MESSAGE], [DNS1035_MESSAGE]],
  ]
  for (const [name, label, dns1035] of cases) {
    t.same(dns1123LabelErrors(name), label, `1123 ${name.slice(0, 20)}`)
    t.same(dns1035LabelErrors(name), dns1035, `1035 ${name.slice(0, 20)}`)
  }
})

t.test('qualified names (label keys) and label values', async (t) => {
  const keys: Array<[string, string[]]> = [
    ['app', []],
    ['app.kubernetes.io/name', []],
    ['MyName_1.x', []],
    ['app:monolith', [NAME_PART_MESSAGE]],
    ['/name', ['prefix part must be non-empty']],
    ['example.com/', ['name part must be non-empty', NAME_PART_MESSAGE]],
    ['Example.com/name', [`prefix part ${SUBDOMAIN_MESSAGE}`]],
    ['a/b/c', [
      "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
    ]],
    ['a'.repeat(64), ['name part must be no more than 63 characters']],
  ]
  for (const [key, expected] of keys) t.same(qualifiedNameErrors(key), expected, key.slice(0, 24))
  const values: Array<[string, string[]]> = [
    ['', []],
    ['web', []],
    ['1.20_x-y', []],
    ['-web', [LABEL_VALUE_MESSAGE]],
    ['a b', [LABEL_VALUE_MESSAGE]],
    ['a'.repeat(64), ['must be no more than 63 characters']],
  ]
  for (const [value, expected] of values) t.same(labelValueErrors(value), expected, JSON.stringify(value.slice(0, 24)))
})

t.test('object names: generateName prefixes may end in a dash; path segments', async (t) => {
  t.same(nameIsDnsSubdomain('web-', true), [])
  t.same(nameIsDnsSubdomain('web-', false), [SUBDOMAIN_MESSAGE])
  t.same(nameIsDnsSubdomain('-', true), [SUBDOMAIN_MESSAGE])
  const cases: Array<[string, string[]]> = [
    ['web', []],
    ['.', ["may not be '.'"]],
    ['..', ["may not be '..'"]],
    ['a/b%c', ["may not contain '/'", "may not contain '%'"]],
  ]
  for (const [name, expected] of cases) t.same(pathSegmentNameErrors(name), expected, name)
})

t.test('generateName appends 5 characters from the Kubernetes alphabet, drawn from the Random', async (t) => {
  const random = new RandomXoshiro(42)
  const names = new Set<string>()
  for (let index = 0; index < 200; index++) {
    const name = generateName('web-', random)
    t.match(name, /^web-[bcdfghjklmnpqrstvwxz2456789]{5}$/)
    names.add(name)
  }
  t.ok(names.size > 190, 'suffixes vary')
  t.equal(generateName('web-', new RandomXoshiro(7)), generateName('web-', new RandomXoshiro(7)), 'a seed replays')
  // A scripted Random shows the mapping from draws to characters, and the 58-character cut.
  const draws = [0, 1, 26, 3, 4]
  const scripted: Random = { float: () => 0, chance: () => false, int: (min, max) => (t.equal(max - min, GENERATED_NAME_ALPHABET.length), draws.shift() ?? 0) }
  t.equal(generateName('x'.repeat(70), scripted), `${'x'.repeat(58)}bc9fg`)
})
