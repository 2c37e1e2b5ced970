/**
 * What positional arguments name, as kubectl's resource builder reads them:
 *
 *   get pods                    every pod (names: [])
 *   get deploy,svc              every deployment and service
 *   get pod web-1 web-2         two pods
 *   get pod/web-1 svc/web       one pod and one service (every argument in TYPE/NAME form)
 *   get all                     every resource of the `all` category
 *
 * Mixing the forms (`get pod web-1 svc/web`) is refused with kubectl's message.
 */
import { CommandError } from './errors.ts'
import type { ApiResource, ResourceCatalog } from './resource-catalog.ts'

/** A resource type and the names asked for (empty: every object of the type). */
export interface Target {
  readonly resource: ApiResource
  readonly names: readonly string[]
}

/**
 * Resolves positional arguments to targets, merging names of the same type in argument order.
 * @throws CommandError when no type is given, the forms are mixed, or a type is unknown.
 */
export function resolveTargets(positionals: readonly string[], catalog: ResourceCatalog, verb = 'get'): Target[] {
  if (positionals.length === 0) throw new CommandError(`you must specify the type of resource to ${verb}`)
  const slashed = positionals.filter((argument) => argument.includes('/'))
  const targets: Array<{ resource: ApiResource; names: string[] }> = []
  const add = (resource: ApiResource, name: string | undefined): void => {
    let target = targets.find((candidate) => candidate.resource === resource)
    if (target === undefined) {
      target = { resource, names: [] }
      targets.push(target)
    }
    if (name !== undefined && !target.names.includes(name)) target.names.push(name)
  }
  if (slashed.length > 0) {
    if (slashed.length !== positionals.length) {
      throw new CommandError(`there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'flotilla ${verb} resource/<resource_name>' instead of 'flotilla ${verb} resource resource/<resource_name>')`)
    }
    for (const argument of positionals) {
      const slash = argument.indexOf('/')
      const type = argument.slice(0, slash)
      const name = argument.slice(slash + 1)
      if (type === '' || name === '' || name.includes('/')) throw new CommandError(`arguments in resource/name form must have a single resource and name, got "${argument}"`)
      const resource = catalog.find(type)
      if (resource === undefined) throw new CommandError(`the server doesn't have a resource type "${type}"`)
      add(resource, name)
    }
    return targets
  }
  const [types, ...names] = positionals
  const resources = catalog.resolveList(types!)
  for (const resource of resources) {
    if (names.length === 0) add(resource, undefined)
    for (const name of names) add(resource, name)
  }
  return targets
}

/**
 * Exactly one object named as `TYPE/NAME` or `TYPE NAME` (scale, rollout, describe of one object).
 * @throws CommandError naming `verb` when the arguments do not name exactly one object.
 */
export function resolveSingleTarget(positionals: readonly string[], catalog: ResourceCatalog, verb: string): { resource: ApiResource; name: string } {
  const targets = positionals.length === 0 ? [] : resolveTargets(positionals, catalog, verb)
  const target = targets[0]
  if (targets.length !== 1 || target === undefined || target.names.length !== 1) {
    throw new CommandError(`${verb} needs exactly one object: TYPE/NAME or TYPE NAME`)
  }
  return { resource: target.resource, name: target.names[0]! }
}
