// Goal: the pure parts of exec and attach: the outcome Status of an exit code (what kubectl turns
// back into its own exit code), the Status of a provider's failure (ApiErrors as they are, our
// and the runtime's named errors with their message, anything else without internals), and the
// splitting of resize messages that arrive in arbitrary pieces. Method: direct calls.
import t from 'tap'
import { FlotillaError } from '../../../lib/errors.ts'
import { NotRunningError } from '../../../runtime/src/runtime.ts'
import { badRequest } from '../../../node/src/api/machinery/status.ts'
import { JsonObjectSplitter, attachOutcome, execOutcome, failureOutcome } from '../../../node/src/api/streaming/exec-stream.ts'

t.test('exit codes become the Status kubectl decodes', async (t) => {
  t.same(execOutcome(['true'], 0), { metadata: {}, status: 'Success' }, 'exit 0 is Success')
  t.same(execOutcome(['sh', '-c', 'exit 3'], 3), {
    metadata: {},
    status: 'Failure',
    message: 'command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3',
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: '3' }] },
  }, 'a non-zero exit is NonZeroExitCode with the code as the ExitCode cause')
  t.match(execOutcome(['x'], 300), { status: 'Failure', reason: 'InternalError' }, 'a code kubectl cannot parse (over 255) is not passed off as an exit code')
  t.same(attachOutcome(), { metadata: {}, status: 'Success' }, 'attach ends in Success')
})

t.test('provider failures become Status objects without leaking internals', async (t) => {
  const logged: string[] = []
  const log = (line: string): void => void logged.push(line)
  t.match(failureOutcome(badRequest('container "c" is waiting to start'), log), { code: 400, reason: 'BadRequest', message: 'container "c" is waiting to start' }, 'an ApiError as it is')
  t.match(failureOutcome(new NotRunningError('container c is not running'), log), { code: 500, reason: 'InternalError', message: 'Internal error occurred: container c is not running' }, 'a runtime error with its message')
  t.match(failureOutcome(new FlotillaError('store unavailable'), log), { message: 'Internal error occurred: store unavailable' }, 'one of ours with its message')
  t.equal(logged.length, 0, 'none of these is logged')
  t.match(failureOutcome(new TypeError('x is undefined at secret.ts:12'), log), { message: 'Internal error occurred: an unexpected error occurred; see the server log' }, 'anything else with a fixed text')
  t.match(logged.join('\n'), /x is undefined at secret\.ts:12/, 'and its details in the log')
})

t.test('resize messages are cut out of any chunking', async (t) => {
  const splitter = new JsonObjectSplitter(4096)
  const text = '{"Width":80,"Height":24}\n{"Width":100,"Height":40}{"note":"a } and a \\" inside","Width":1,"Height":2}'
  const pieces: string[] = []
  for (let offset = 0; offset < text.length; offset += 5) pieces.push(...splitter.push(text.slice(offset, offset + 5)))
  t.same(pieces.map((piece) => JSON.parse(piece)), [{ Width: 80, Height: 24 }, { Width: 100, Height: 40 }, { note: 'a } and a " inside', Width: 1, Height: 2 }], 'three objects, braces and quotes inside strings respected')
  const bounded = new JsonObjectSplitter(16)
  t.same(bounded.push('{"Width":80,"Height":24,"padding":"xxxxxxxx"'), [], 'an object over the bound is dropped')
  t.same(bounded.push('}{"Width":1}'), ['{"Width":1}'], 'and the next one is read normally')
})
