/**
 * `flotilla rollout status|history|undo <type>/<name>`.
 *
 *   status   follows the object (GET, then a watch on its name) and prints kubectl's messages
 *            (rollout-status.ts) until the rollout completes, fails, or `--timeout` passes. On a
 *            terminal the progress is one line rewritten in place; otherwise each new message is
 *            a line of its own. `--watch=false` prints the current status once.
 *   history  the Deployment's revisions from its ReplicaSets; `--revision N` shows one template.
 *   undo     goes back to the previous revision, or `--to-revision N`, with kubectl's JSON patch.
 */
import { isJsonObject } from '../api/machinery/canonical.ts'
import { wholeNumberFlag, type FlagSpec, type ParsedArguments } from './arguments.ts'
import type { CommandContext } from './command-context.ts'
import { describePodTemplate } from './describers.ts'
import { DescribeWriter } from './describe-writer.ts'
import { historyLines, ownedReplicaSets, revisionsOf, rollbackPatch, rollbackTarget, templateMatches } from './deployment-history.ts'
import { parseDurationMs } from './duration.ts'
import { CommandError, KubectlUsageError, WaitTimeoutError } from './errors.ts'
import { objectAt, selectorText, stringAt } from './object-fields.ts'
import { kindPrefix, resourcePath, type ApiResource } from './resource-catalog.ts'
import { rolloutStatus, ROLLOUT_KINDS } from './rollout-status.ts'
import { alignTabs, DESCRIBE_LAYOUT } from './tab-writer.ts'
import { resolveSingleTarget } from './targets.ts'
import { followWatch } from './watch-events.ts'

export const ROLLOUT_FLAGS: readonly FlagSpec[] = [
  { name: 'to-revision', type: 'string' },
  { name: 'revision', type: 'string' },
  { name: 'timeout', type: 'string' },
  { name: 'watch', short: 'w', type: 'boolean' },
]

/** Runs `rollout <subcommand>`; returns the exit code. */
export async function runRollout(context: CommandContext, args: ParsedArguments): Promise<number> {
  const [subcommand, ...rest] = args.positionals
  if (subcommand !== 'status' && subcommand !== 'history' && subcommand !== 'undo') {
    throw new KubectlUsageError(`rollout needs a subcommand: status, history or undo${subcommand === undefined ? '' : ` (got "${subcommand}")`}`)
  }
  const catalog = await context.catalog()
  const { resource, name } = resolveSingleTarget(rest, catalog, `rollout ${subcommand}`)
  if (!ROLLOUT_KINDS.has(resource.kind) || (subcommand !== 'status' && resource.kind !== 'Deployment')) {
    throw new CommandError(`no ${subcommand === 'status' ? 'status' : subcommand === 'history' ? 'history' : 'rollbacker'} viewer has been implemented for "${resource.kind}"`)
  }
  const namespace = resource.namespaced ? context.namespace : undefined
  switch (subcommand) {
    case 'status':
      return rolloutStatusCommand(context, args, resource, namespace, name)
    case 'history':
      return rolloutHistory(context, args, resource, namespace, name)
    case 'undo':
      return rolloutUndo(context, args, resource, namespace, name)
  }
}

async function rolloutStatusCommand(context: CommandContext, args: ParsedArguments, resource: ApiResource, namespace: string | undefined, name: string): Promise<number> {
  const timeoutText = args.string('timeout')
  const timeoutMs = timeoutText === undefined ? 0 : parseDurationMs('timeout', timeoutText)
  const display = new ProgressDisplay(context)
  const object = await context.client.json({ method: 'GET', path: resourcePath(resource, namespace, name) })
  let status = rolloutStatus(resource.kind, object)
  display.show(status.message)
  if (status.done || !args.boolean('watch', true)) {
    display.finish()
    return 0
  }
  const signal = timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined
  const query = { fieldSelector: `metadata.name=${name}` }
  try {
    for await (const event of followWatch(context.client, { path: resourcePath(resource, namespace), query, resourceVersion: stringAt(object, ['metadata', 'resourceVersion']), ...(signal !== undefined ? { signal } : {}) })) {
      if (event.type === 'DELETED') throw new CommandError(`object has been deleted`)
      status = rolloutStatus(resource.kind, event.object)
      display.show(status.message)
      if (status.done) return 0
    }
  } finally {
    display.finish()
  }
  throw new WaitTimeoutError('timed out waiting for the condition')
}

/**
 * Shows a changing status: on a terminal, one line rewritten in place; otherwise one line per
 * distinct message, so logs of CI jobs read like kubectl's.
 */
class ProgressDisplay {
  private readonly context: CommandContext
  private last: string | undefined
  private open = false

  constructor(context: CommandContext) {
    this.context = context
  }

  show(message: string): void {
    if (message === this.last) return
    this.last = message
    if (this.context.io.isTty) {
      this.context.io.write(`\r\x1b[2K${message}`)
      this.open = true
    } else {
      this.context.io.write(`${message}\n`)
    }
  }

  /** Ends the rewritten line. */
  finish(): void {
    if (this.open) this.context.io.write('\n')
    this.open = false
  }
}

/** The deployment and the revisions of the ReplicaSets it controls. */
async function deploymentRevisions(context: CommandContext, resource: ApiResource, namespace: string | undefined, name: string) {
  const deployment = await context.client.json({ method: 'GET', path: resourcePath(resource, namespace, name) })
  const replicaSetResource = (await context.catalog()).forKind('apps/v1', 'ReplicaSet')
  const list = await context.client.json({
    method: 'GET',
    path: resourcePath(replicaSetResource, namespace),
    query: { labelSelector: selectorText(objectAt(deployment, 'spec', 'selector')) || undefined },
  })
  const replicaSets = Array.isArray(list['items']) ? list['items'].filter(isJsonObject) : []
  return { deployment, revisions: revisionsOf(ownedReplicaSets(deployment, replicaSets)) }
}

async function rolloutHistory(context: CommandContext, args: ParsedArguments, resource: ApiResource, namespace: string | undefined, name: string): Promise<number> {
  const { revisions } = await deploymentRevisions(context, resource, namespace, name)
  const revisionText = args.string('revision')
  if (revisionText !== undefined && revisionText !== '0') {
    const number = wholeNumberFlag('revision', revisionText)
    const revision = revisions.find((candidate) => candidate.number === number)
    if (revision === undefined) throw new CommandError(`unable to find the specified revision`)
    const writer = new DescribeWriter()
    describePodTemplate(writer, objectAt(revision.replicaSet, 'spec', 'template'))
    context.io.write(`${kindPrefix(resource)}/${name} with revision #${number}\n${writer.toString()}`)
    return 0
  }
  if (revisions.length === 0) {
    context.io.write('No rollout history found.\n')
    return 0
  }
  context.io.write(`${kindPrefix(resource)}/${name} \n${alignTabs(historyLines(revisions), DESCRIBE_LAYOUT)}\n`)
  return 0
}

async function rolloutUndo(context: CommandContext, args: ParsedArguments, resource: ApiResource, namespace: string | undefined, name: string): Promise<number> {
  const toRevisionText = args.string('to-revision')
  const toRevision = toRevisionText === undefined ? 0 : wholeNumberFlag('to-revision', toRevisionText)
  const { deployment, revisions } = await deploymentRevisions(context, resource, namespace, name)
  if (objectAt(deployment, 'spec')['paused'] === true) {
    throw new CommandError(`you cannot rollback a paused deployment; resume it first (kubectl rollout resume deployment/${name}) and try again`)
  }
  const target = rollbackTarget(name, revisions, toRevision)
  if (templateMatches(deployment, target)) {
    context.io.write(`${kindPrefix(resource)}/${name} skipped rollback (current template already matches revision ${target.number})\n`)
    return 0
  }
  await context.client.json({
    method: 'PATCH',
    path: resourcePath(resource, namespace, name),
    contentType: 'application/json-patch+json',
    body: JSON.stringify(rollbackPatch(deployment, target)),
  })
  context.io.write(`${kindPrefix(resource)}/${name} rolled back\n`)
  return 0
}
