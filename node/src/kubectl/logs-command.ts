/**
 * `flotilla logs <pod> [-c container] [-f] [--tail N] [--previous] [--timestamps] [--since 5m]`:
 * streams `GET …/pods/<name>/log` to standard output as it arrives.
 *
 * The log endpoint belongs to the node agent (the daemon that runs the pod's containers). Until a
 * server serves it, its error is printed like any other (`Error from server (…): …`).
 */
import { wholeNumberFlag, type FlagSpec, type ParsedArguments } from './arguments.ts'
import type { CommandContext } from './command-context.ts'
import { parseDurationMs } from './duration.ts'
import { KubectlUsageError } from './errors.ts'
import { resourcePath } from './resource-catalog.ts'

export const LOGS_FLAGS: readonly FlagSpec[] = [
  { name: 'container', short: 'c', type: 'string' },
  { name: 'follow', short: 'f', type: 'boolean' },
  { name: 'tail', type: 'string' },
  { name: 'previous', short: 'p', type: 'boolean' },
  { name: 'timestamps', type: 'boolean' },
  { name: 'since', type: 'string' },
]

const PODS = { group: '', version: 'v1', name: 'pods', namespaced: true } as const
const POD_PREFIXES = ['pod/', 'pods/', 'po/']

/** The pod name of the argument (`web-1`, `pod/web-1`). */
export function podNameOf(argument: string): string {
  const prefix = POD_PREFIXES.find((candidate) => argument.startsWith(candidate))
  const name = prefix === undefined ? argument : argument.slice(prefix.length)
  if (name === '' || name.includes('/')) throw new KubectlUsageError(`logs takes a pod name (NAME or pod/NAME), got "${argument}"`)
  return name
}

/** The query of the log request for these flags. */
export function logQuery(args: ParsedArguments): Record<string, string | undefined> {
  const tail = args.string('tail')
  const since = args.string('since')
  const tailLines = tail === undefined ? undefined : wholeNumberFlag('tail', tail, { allowNegativeOne: true })
  return {
    container: args.string('container'),
    follow: args.boolean('follow') ? 'true' : undefined,
    // kubectl's --tail=-1 means "everything", which is the server's default.
    tailLines: tailLines === undefined || tailLines < 0 ? undefined : String(tailLines),
    previous: args.boolean('previous') ? 'true' : undefined,
    timestamps: args.boolean('timestamps') ? 'true' : undefined,
    sinceSeconds: since === undefined ? undefined : String(Math.max(1, Math.ceil(parseDurationMs('since', since) / 1000))),
  }
}

/** Runs `logs`; returns the exit code. */
export async function runLogs(context: CommandContext, args: ParsedArguments): Promise<number> {
  const [argument, container, ...extra] = args.positionals
  if (argument === undefined) throw new KubectlUsageError('logs needs a pod name: flotilla logs POD [-c CONTAINER]')
  if (extra.length > 0) throw new KubectlUsageError(`logs takes a pod and at most one container, got ${args.positionals.length} arguments`)
  const name = podNameOf(argument)
  const query = logQuery(args)
  // kubectl also accepts the container as a second argument.
  if (container !== undefined) {
    if (query['container'] !== undefined) throw new KubectlUsageError('only one of -c or an inline container name is allowed')
    query['container'] = container
  }
  const stream = await context.client.stream({ method: 'GET', path: resourcePath(PODS, context.namespace, name, 'log'), query, accept: '*/*' })
  const decoder = new TextDecoder()
  for await (const chunk of stream.chunks()) context.io.write(decoder.decode(chunk, { stream: true }))
  const rest = decoder.decode()
  if (rest !== '') context.io.write(rest)
  return 0
}
