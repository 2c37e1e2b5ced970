// Goal: real kubectl runs `exec` and `attach` against the API: kubectl 1.20 over SPDY/3.1,
// kubectl 1.32 over WebSocket (v5.channel.k8s.io, which it tries first) and over SPDY/3.1 (with
// its WebSocket switch off it offers v5 first and must settle for v4). The command's stdout and
// stderr arrive on their own streams, its exit code becomes kubectl's (`command terminated with
// exit code 3`), stdin reaches the process and its end closes the process's input, output past
// the 64 KiB SPDY window flows (kubectl never sends WINDOW_UPDATE), `-it` on a terminal gets a
// tty and the terminal's size, a provider that cannot start the session reports its error on
// the error stream (kubectl prints it and fails), and container mistakes are Status errors.
// Method: an ApiHandler on 127.0.0.1 whose test PodStreams runs exec as local processes (`sh -c`)
// and feeds attach sessions from the test; kubectl as child processes (on a pseudo-terminal from
// util-linux `script` for -it), killed at teardown; waits are polls with deadlines.
import { existsSync } from 'node:fs'
import t from 'tap'
import { waitFor } from '../../../lib/poll.ts'
import { NotRunningError } from '../../../runtime/src/runtime.ts'
import { badRequest } from '../../../node/src/api/machinery/status.ts'
import { KUBECTL_120, KUBECTL_132, Kubectl, SCRIPT, StreamingServer, pod, waitForOutput } from './stream-harness.ts'

const VERSIONS: ReadonlyArray<{ name: string; binary: string; transport: string; env: Readonly<Record<string, string>> }> = [
  { name: 'kubectl 1.20 (SPDY/3.1)', binary: KUBECTL_120, transport: 'SPDY/3.1', env: {} },
  { name: 'kubectl 1.32 (WebSocket v5)', binary: KUBECTL_132, transport: 'websocket', env: {} },
  // With WebSockets switched off kubectl 1.32 offers v5.channel.k8s.io first over SPDY; it gets v4.
  { name: 'kubectl 1.32 (SPDY/3.1, WebSockets off)', binary: KUBECTL_132, transport: 'SPDY/3.1', env: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' } },
]

for (const version of VERSIONS) {
  if (!Kubectl.available(version.binary)) {
    t.test(`${version.name} exec and attach`, { skip: `${version.binary} is not installed` }, async () => {})
    continue
  }

  t.test(`${version.name}: exec output, exit codes, stdin, large output`, async (t) => {
    const server = await new StreamingServer().start(t)
    await server.createPod(pod('web'))
    await server.createPod(pod('multi', { containers: ['a', 'b'] }))
    const kubectl = new Kubectl(t, version.binary, server, version.env)

    const failing = await kubectl.run(['exec', 'web', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3'])
    t.equal(failing.code, 3, 'kubectl exits with the command exit code')
    t.equal(failing.stdout, 'out\n', 'stdout on stdout')
    t.match(failing.stderr, /^err\n/, 'stderr on stderr')
    t.match(failing.stderr, /command terminated with exit code 3/, 'and kubectl reports the exit code')
    t.same(server.provider.calls.at(-1), { method: 'exec', pod: 'web', container: 'app', options: { command: ['sh', '-c', 'echo out; echo err >&2; exit 3'], stdin: false, tty: false } }, 'the provider ran the command in the only container')
    t.equal(server.upgrades.at(-1)?.upgrade, version.transport, `over ${version.transport}`)

    const succeeding = await kubectl.run(['exec', 'web', '--', 'sh', '-c', 'echo fine'])
    t.same([succeeding.code, succeeding.stdout, succeeding.stderr], [0, 'fine\n', ''], 'a successful command exits 0 silently')

    const piped = await kubectl.run(['exec', '-i', 'web', '--', 'cat'], 'hello\nworld\n')
    t.same([piped.code, piped.stdout], [0, 'hello\nworld\n'], '-i: stdin reaches the process and its end ends cat')

    const large = await kubectl.run(['exec', 'web', '--', 'sh', '-c', 'head -c 300000 /dev/zero | tr "\\000" x'])
    t.equal(large.stdout.length, 300_000, 'output far beyond the 64 KiB window arrives whole')
    t.match(large.stdout, /^x+$/, 'intact')

    const chosen = await kubectl.run(['exec', 'multi', '-c', 'b', '--', 'sh', '-c', 'echo in-b'])
    t.same([chosen.code, chosen.stdout], [0, 'in-b\n'], '-c picks the container')
    t.equal(server.provider.calls.at(-1)?.container, 'b', 'and the provider is asked for it')
    const unknown = await kubectl.run(['exec', 'multi', '-c', 'nope', '--', 'true'])
    t.not(unknown.code, 0, 'an unknown container fails')
    t.match(unknown.stderr, /container nope is not valid for pod multi/, 'with the apiserver message')
    t.equal(server.logged.length, 0, 'nothing went wrong on the server')
  })

  t.test(`${version.name}: a provider that cannot start the session`, async (t) => {
    const server = await new StreamingServer().start(t)
    await server.createPod(pod('web'))
    const kubectl = new Kubectl(t, version.binary, server, version.env)
    server.provider.failWith = new NotRunningError('container app is not running')
    const runtimeFailure = await kubectl.run(['exec', 'web', '--', 'true'])
    t.not(runtimeFailure.code, 0, 'kubectl fails')
    t.match(runtimeFailure.stderr, /Internal error occurred: container app is not running/, 'with the runtime error from the error stream')
    server.provider.failWith = badRequest('container "app" in pod "web" is waiting to start: ContainerCreating')
    const apiFailure = await kubectl.run(['exec', 'web', '--', 'true'])
    t.not(apiFailure.code, 0, 'kubectl fails')
    t.match(apiFailure.stderr, /container "app" in pod "web" is waiting to start: ContainerCreating/, 'with the Status message')
    server.provider.failWith = new Error('a bug with internal details')
    const unexpected = await kubectl.run(['exec', 'web', '--', 'true'])
    t.match(unexpected.stderr, /an unexpected error occurred; see the server log/, 'an unexpected error shows no internals')
    t.match(server.logged.join('\n'), /a bug with internal details/, 'which go to the server log')
  })

  t.test(`${version.name}: attach`, async (t) => {
    const server = await new StreamingServer().start(t)
    await server.createPod(pod('web'))
    const kubectl = new Kubectl(t, version.binary, server, version.env)
    const attach = kubectl.start(['attach', 'web'])
    const session = await waitFor('the attach session', 20_000, () => server.provider.attaches[0])
    session.output.write('from the main process\n')
    await waitForOutput('kubectl attach to print the output', attach.stdout, /from the main process\n/)
    session.exit(0)
    const done = await attach.exited(20_000)
    t.equal(done.code, 0, 'kubectl attach ends when the process does')
    t.same(server.provider.calls.at(-1), { method: 'attach', pod: 'web', container: 'app', options: { stdin: false, tty: false } }, 'attach without stdin')

    const interactive = kubectl.start(['attach', '-i', 'web'], 'typed input\n')
    const second = await waitFor('the second attach session', 20_000, () => server.provider.attaches[1])
    let typed = ''
    second.input.on('data', (chunk: Buffer) => (typed += chunk.toString()))
    await waitFor('the input to reach the process', 20_000, () => (typed === 'typed input\n' ? true : undefined))
    second.exit(0)
    t.equal((await interactive.exited(20_000)).code, 0, 'attach -i: input reaches the main process')
  })

  if (!existsSync(SCRIPT)) {
    t.test(`${version.name}: exec -it`, { skip: `${SCRIPT} (util-linux) is not installed` }, async () => {})
  } else {
    t.test(`${version.name}: exec -it on a terminal gets a tty and its size`, async (t) => {
      const server = await new StreamingServer().start(t)
      await server.createPod(pod('web'))
      const kubectl = new Kubectl(t, version.binary, server, version.env)
      const command = ['sh', '-c', 'read line; echo tty-out:$line; echo tty-err >&2; exit 2']
      const terminal = kubectl.startOnTerminal(['exec', '-it', 'web', '--', ...command], { columns: 123, rows: 45 })
      const size = await waitFor('the terminal size', 20_000, () => server.provider.resizes[0])
      t.same(size, { width: 123, height: 45 }, "the terminal's size reaches the session")
      // Typed only now, so the command cannot finish before the size has arrived.
      terminal.child.stdin!.write('typed\n')
      const done = await terminal.exited(30_000)
      t.equal(done.code, 2, 'the exit code comes through the terminal too')
      t.match(done.stdout, /tty-out:typed\r?\ntty-err/, 'typed input reaches the command, and stdout and stderr are one stream with a tty')
      t.same(server.provider.calls.at(-1)?.options, { command, stdin: true, tty: true }, 'the provider is asked for a tty')
    })
  }
}
