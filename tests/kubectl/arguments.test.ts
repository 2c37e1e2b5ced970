// Goal: the verbs read flags the way kubectl (pflag) does, so muscle memory carries over, and a
// mistake is a one-line usage error. Method: tables over parseArguments, the duration parser and
// the global-flag handling of runKubectlVerb with a captured output.
import t from 'tap'
import { parseArguments, wholeNumberFlag, type FlagSpec } from '../../node/src/kubectl/arguments.ts'
import { formatDurationMs, humanDuration, parseDurationMs } from '../../node/src/kubectl/duration.ts'
import { KubectlUsageError } from '../../node/src/kubectl/errors.ts'
import { runKubectlVerb } from '../../node/src/kubectl/run-verb.ts'
import type { CommandIo } from '../../node/src/kubectl/command-context.ts'

const SPECS: FlagSpec[] = [
  { name: 'namespace', short: 'n', type: 'string' },
  { name: 'output', short: 'o', type: 'string' },
  { name: 'all-namespaces', short: 'A', type: 'boolean' },
  { name: 'watch', short: 'w', type: 'boolean' },
  { name: 'wait', type: 'boolean' },
  { name: 'filename', short: 'f', type: 'string', multiple: true },
]

t.test('parseArguments reads flags anywhere, in every spelling pflag accepts', async (t) => {
  const cases: Array<{ name: string; argv: string[]; positionals: string[]; check: (args: ReturnType<typeof parseArguments>) => void }> = [
    { name: 'long with space', argv: ['get', '--namespace', 'team', 'pods'], positionals: ['get', 'pods'], check: (args) => t.equal(args.string('namespace'), 'team') },
    { name: 'long with equals', argv: ['--namespace=team', 'pods'], positionals: ['pods'], check: (args) => t.equal(args.string('namespace'), 'team') },
    { name: 'short with space', argv: ['pods', '-n', 'team'], positionals: ['pods'], check: (args) => t.equal(args.string('namespace'), 'team') },
    { name: 'short glued', argv: ['-nteam', 'pods'], positionals: ['pods'], check: (args) => t.equal(args.string('namespace'), 'team') },
    { name: 'short with equals', argv: ['-o=yaml'], positionals: [], check: (args) => t.equal(args.string('output'), 'yaml') },
    { name: 'cluster of booleans', argv: ['-Aw', 'pods'], positionals: ['pods'], check: (args) => t.ok(args.boolean('all-namespaces') && args.boolean('watch')) },
    { name: 'booleans then a value in one cluster', argv: ['-Ao', 'wide'], positionals: [], check: (args) => t.ok(args.boolean('all-namespaces') && args.string('output') === 'wide') },
    { name: 'boolean written out false', argv: ['--wait=false'], positionals: [], check: (args) => t.equal(args.boolean('wait', true), false) },
    { name: 'boolean default when absent', argv: [], positionals: [], check: (args) => t.equal(args.boolean('wait', true), true) },
    { name: 'repeated list flag keeps every value', argv: ['-f', 'a.yaml', '--filename=b.yaml', '-fc.yaml'], positionals: [], check: (args) => t.same(args.strings('filename'), ['a.yaml', 'b.yaml', 'c.yaml']) },
    { name: 'repeated single flag keeps the last', argv: ['-n', 'a', '-n', 'b'], positionals: [], check: (args) => t.equal(args.string('namespace'), 'b') },
    { name: 'double dash ends flags', argv: ['pods', '--', '-n', 'x'], positionals: ['pods', '-n', 'x'], check: (args) => t.notOk(args.has('namespace')) },
    { name: 'a lone dash is positional (stdin)', argv: ['-'], positionals: ['-'], check: () => {} },
  ]
  for (const testCase of cases) {
    const args = parseArguments(testCase.argv, SPECS)
    t.same(args.positionals, testCase.positionals, `${testCase.name}: positionals`)
    testCase.check(args)
  }
})

t.test('parseArguments refuses unknown flags, missing values and bad booleans with usage errors', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [['--colour'], /unknown flag: --colour/],
    [['-x'], /unknown shorthand flag: 'x' in -x/],
    [['-Ax'], /unknown shorthand flag: 'x' in -Ax/],
    [['--namespace'], /flag needs an argument: --namespace/],
    [['-n'], /flag needs an argument: 'n'/],
    [['--wait=maybe'], /invalid argument "maybe" for "--wait" flag/],
  ]
  for (const [argv, message] of cases) {
    t.throws(() => parseArguments(argv, SPECS), { name: 'KubectlUsageError', message }, argv.join(' '))
  }
  t.equal(wholeNumberFlag('replicas', '3'), 3)
  t.throws(() => wholeNumberFlag('replicas', '-1'), KubectlUsageError)
  t.throws(() => wholeNumberFlag('replicas', 'two'), /invalid argument "two" for "--replicas" flag/)
  t.equal(wholeNumberFlag('tail', '-1', { allowNegativeOne: true }), -1)
})

t.test('durations read like Go and print like kubectl', async (t) => {
  t.equal(parseDurationMs('timeout', '5m'), 300_000)
  t.equal(parseDurationMs('timeout', '1h30m'), 5_400_000)
  t.equal(parseDurationMs('timeout', '250ms'), 250)
  t.equal(parseDurationMs('timeout', '1.5s'), 1500)
  t.equal(parseDurationMs('request-timeout', '30'), 30_000, 'a bare number is seconds')
  t.equal(parseDurationMs('request-timeout', '0'), 0)
  for (const bad of ['', 'soon', '5 m', '5x', 'm5']) t.throws(() => parseDurationMs('timeout', bad), KubectlUsageError, bad)
  t.equal(formatDurationMs(300_000), '5m0s')
  const ages: Array<[number, string]> = [
    [-500, '0s'],
    [-5000, '<invalid>'],
    [45_000, '45s'],
    [119_000, '119s'],
    [302_000, '5m2s'],
    [300_000, '5m'],
    [12 * 60_000, '12m'],
    [200 * 60_000, '3h20m'],
    [10 * 3_600_000, '10h'],
    [51 * 3_600_000, '2d3h'],
    [40 * 86_400_000, '40d'],
    [(365 * 2 + 10) * 86_400_000, '2y10d'],
  ]
  for (const [ms, text] of ages) t.equal(humanDuration(ms), text, `${ms} ms`)
})

t.test('runKubectlVerb turns every failure into one line and exit code 1', async (t) => {
  const captured = { out: '', err: '' }
  const io: CommandIo = { write: (text) => void (captured.out += text), error: (text) => void (captured.err += text), isTty: false, readStdin: async () => '', nowMs: () => 0 }
  t.equal(await runKubectlVerb('get', ['pods', '--colour'], io), 1)
  t.equal(captured.err, 'error: unknown flag: --colour\n')
  captured.err = ''
  t.equal(await runKubectlVerb('get', ['pods', '--kubeconfig', '/nonexistent/kubeconfig'], io), 1)
  t.equal(captured.err, 'error: the kubeconfig file /nonexistent/kubeconfig does not exist\n')
  captured.err = ''
  t.equal(await runKubectlVerb('get', ['pods', '--request-timeout', 'soon'], io), 1)
  t.match(captured.err, /^error: invalid argument "soon" for "--request-timeout" flag/)
  t.equal(captured.err.trim().split('\n').length, 1, 'one line, no stack trace')
  captured.out = ''
  t.equal(await runKubectlVerb('scale', ['--help'], io), 0)
  t.match(captured.out, /flotilla scale <type>\/<name> --replicas N/)
})
