/**
 * The entry point of the Kubernetes verbs of the `flotilla` command: global flags, dispatch to the
 * verb, and the one place where failures become output. Every failure is printed as one readable
 * message (errors.ts) with exit code 1; a stack trace is printed only with FLOTILLA_DEBUG=1.
 *
 * Global flags, accepted by every verb:
 *   --kubeconfig FILE      default $KUBECONFIG, then ~/.kube/config, then <data dir>/kubeconfig
 *   --context NAME         a context of the kubeconfig (default: its current-context)
 *   -n, --namespace NS     default: the context's namespace, else "default"
 *   --request-timeout D    limit per request (30s, 1m; 0 = none; default 60s)
 *   --data DIR             the node directory (`cluster status`, the kubeconfig fallback)
 */
import { homedir } from 'node:os'
import { join } from 'node:path'
import { APPLY_FLAGS, runApply } from './apply-command.ts'
import { parseArguments, type FlagSpec, type ParsedArguments } from './arguments.ts'
import { CLUSTER_FLAGS, runCluster } from './cluster-status-command.ts'
import { CommandContext, type CommandIo, type GlobalOptions } from './command-context.ts'
import { DELETE_FLAGS, runDelete } from './delete-command.ts'
import { DESCRIBE_FLAGS, runDescribe } from './describe-command.ts'
import { parseDurationMs } from './duration.ts'
import { formatError } from './errors.ts'
import { GET_FLAGS, runGet } from './get-command.ts'
import { LOGS_FLAGS, runLogs } from './logs-command.ts'
import { ROLLOUT_FLAGS, runRollout } from './rollout-command.ts'
import { SCALE_FLAGS, runScale } from './scale-command.ts'
import { TOP_FLAGS, runTop } from './top-command.ts'

export const GLOBAL_FLAGS: readonly FlagSpec[] = [
  { name: 'kubeconfig', type: 'string' },
  { name: 'context', type: 'string' },
  { name: 'namespace', short: 'n', type: 'string' },
  { name: 'request-timeout', type: 'string' },
  { name: 'data', type: 'string' },
  { name: 'help', short: 'h', type: 'boolean' },
]

interface Verb {
  readonly flags: readonly FlagSpec[]
  readonly usage: string
  readonly run: (context: CommandContext, args: ParsedArguments) => Promise<number>
}

const VERBS: Readonly<Record<string, Verb>> = {
  get: { flags: GET_FLAGS, run: runGet, usage: 'flotilla get <type>[,<type>…] [name…] | <type>/<name>… [-n ns | -A] [-l selector] [--field-selector s] [-o wide|yaml|json|name] [-w] [--show-labels] [--no-headers]' },
  describe: { flags: DESCRIBE_FLAGS, run: runDescribe, usage: 'flotilla describe <type> [name…] | <type>/<name>… [-n ns | -A] [-l selector]' },
  apply: { flags: APPLY_FLAGS, run: runApply, usage: 'flotilla apply -f <file|dir|-> [-R] [--force-conflicts] [--field-manager NAME] [--dry-run=server]   (server-side apply)' },
  delete: { flags: DELETE_FLAGS, run: runDelete, usage: 'flotilla delete <type> <name…> | <type>/<name>… | <type> -l selector | <type> --all | -f <file> [--cascade=background|foreground|orphan] [--wait=true|false] [--timeout 5m] [--ignore-not-found]' },
  logs: { flags: LOGS_FLAGS, run: runLogs, usage: 'flotilla logs <pod> [-c container] [-f] [--tail N] [--previous] [--timestamps] [--since 5m]' },
  scale: { flags: SCALE_FLAGS, run: runScale, usage: 'flotilla scale <type>/<name> --replicas N' },
  rollout: { flags: ROLLOUT_FLAGS, run: runRollout, usage: 'flotilla rollout status|history|undo <type>/<name> [--to-revision N] [--revision N] [--timeout 5m] [--watch=false]' },
  top: { flags: TOP_FLAGS, run: runTop, usage: 'flotilla top nodes|pods [name] [-n ns | -A] [-l selector]' },
  cluster: { flags: CLUSTER_FLAGS, run: runCluster, usage: 'flotilla cluster status [--data DIR] [-o json]   (members, zones, Raft roles, leader, health)' },
}

/** The verbs this module handles. */
export const KUBECTL_VERBS: ReadonlySet<string> = new Set(Object.keys(VERBS))

/** The usage lines of every verb, for the CLI's help text. */
export function kubectlUsage(): string {
  return [
    ...Object.values(VERBS).map((verb) => verb.usage),
    'global flags: --kubeconfig FILE  --context NAME  -n/--namespace NS  --request-timeout 30s  --data DIR',
  ].join('\n')
}

/** The data directory default of the CLI (`--data`, $FLOTILLA_DATA, /var/lib/flotilla or ~/.flotilla). */
export function defaultDataDirectory(): string {
  return process.env['FLOTILLA_DATA'] ?? (process.getuid?.() === 0 ? '/var/lib/flotilla' : join(process.env['HOME'] ?? '.', '.flotilla'))
}

/** Standard output, error and input of this process. */
export function processIo(): CommandIo {
  return {
    write: (text) => void process.stdout.write(text),
    error: (text) => void process.stderr.write(text),
    isTty: process.stdout.isTTY === true,
    readStdin: async () => {
      const chunks: Buffer[] = []
      for await (const chunk of process.stdin as AsyncIterable<Buffer>) chunks.push(chunk)
      return Buffer.concat(chunks).toString('utf8')
    },
    nowMs: () => Date.now(),
  }
}

/**
 * Runs one verb with its arguments (everything after the verb) and returns the exit code: 0 on
 * success, 1 for any failure, which has then been printed to `io.error`.
 */
export async function runKubectlVerb(verbName: string, argv: readonly string[], io: CommandIo = processIo()): Promise<number> {
  const verb = VERBS[verbName]
  if (verb === undefined) {
    io.error(`error: unknown command "${verbName}"\n`)
    return 1
  }
  let context: CommandContext | undefined
  try {
    const args = parseArguments(argv, [...GLOBAL_FLAGS, ...verb.flags])
    if (args.boolean('help')) {
      io.write(`Usage:\n  ${verb.usage}\n\n${kubectlUsage().split('\n').pop()!}\n`)
      return 0
    }
    context = new CommandContext(io, globalOptions(args))
    return await verb.run(context, args)
  } catch (error) {
    io.error(`${formatError(error)}\n`)
    if (process.env['FLOTILLA_DEBUG'] === '1' && error instanceof Error && error.stack !== undefined) io.error(`${error.stack}\n`)
    return 1
  } finally {
    context?.close()
  }
}

function globalOptions(args: ParsedArguments): GlobalOptions {
  const dataDirectory = args.string('data') ?? defaultDataDirectory()
  const timeout = args.string('request-timeout')
  const namespace = args.string('namespace')
  const context = args.string('context')
  const kubeconfigFlag = args.string('kubeconfig')
  const environment = process.env['KUBECONFIG']
  return {
    kubeconfig: {
      ...(kubeconfigFlag !== undefined ? { flag: kubeconfigFlag } : {}),
      ...(environment !== undefined ? { environment } : {}),
      home: process.env['HOME'] ?? homedir(),
      dataDirectory,
    },
    ...(context !== undefined ? { context } : {}),
    ...(namespace !== undefined ? { namespace } : {}),
    ...(timeout !== undefined ? { requestTimeoutMs: parseDurationMs('request-timeout', timeout) } : {}),
    dataDirectory,
  }
}
