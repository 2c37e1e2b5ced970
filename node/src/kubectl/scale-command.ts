/**
 * `flotilla scale <type>/<name>… --replicas N`: sets `spec.replicas` through the scale
 * subresource with a JSON merge patch, as kubectl does (`{"spec":{"replicas":N}}`), so it works
 * for every kind that has one (deployments, replicasets, statefulsets).
 */
import { wholeNumberFlag, type FlagSpec, type ParsedArguments } from './arguments.ts'
import type { CommandContext } from './command-context.ts'
import { KubectlUsageError, ServerError, formatError } from './errors.ts'
import { kindPrefix, resourcePath } from './resource-catalog.ts'
import { resolveTargets } from './targets.ts'

export const SCALE_FLAGS: readonly FlagSpec[] = [{ name: 'replicas', type: 'string' }]

/** Runs `scale`; returns the exit code. */
export async function runScale(context: CommandContext, args: ParsedArguments): Promise<number> {
  const replicasText = args.string('replicas')
  if (replicasText === undefined) throw new KubectlUsageError('required flag(s) "replicas" not set')
  const replicas = wholeNumberFlag('replicas', replicasText)
  const catalog = await context.catalog()
  const targets = resolveTargets(args.positionals, catalog, 'scale')
  let failed = false
  for (const { resource, names } of targets) {
    if (names.length === 0) throw new KubectlUsageError(`scale needs the name of the ${resource.singularName} to scale`)
    for (const name of names) {
      try {
        await context.client.json({
          method: 'PATCH',
          path: resourcePath(resource, resource.namespaced ? context.namespace : undefined, name, 'scale'),
          contentType: 'application/merge-patch+json',
          body: JSON.stringify({ spec: { replicas } }),
        })
        context.io.write(`${kindPrefix(resource)}/${name} scaled\n`)
      } catch (error) {
        if (!(error instanceof ServerError)) throw error
        failed = true
        context.io.error(`${formatError(error)}\n`)
      }
    }
  }
  return failed ? 1 : 0
}
