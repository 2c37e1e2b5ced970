/**
 * `flotilla describe <type> [name…] | <type>/<name>…`: a readable summary of objects with the
 * events about them, as kubectl describes them (describers.ts). Related objects are fetched here:
 * events by field selector on involvedObject name, namespace and uid; for a Deployment its
 * ReplicaSets (selected by its selector, kept when it controls them); for a ReplicaSet its pods;
 * for a Service its Endpoints. A related list that cannot be read is left out rather than failing
 * the command, as kubectl does.
 */
import { isJsonObject, type JsonObject } from '../api/machinery/canonical.ts'
import type { FlagSpec, ParsedArguments } from './arguments.ts'
import type { CommandContext } from './command-context.ts'
import { describeObject, type DescribeRelated } from './describers.ts'
import { ownedReplicaSets } from './deployment-history.ts'
import { ServerError, formatError } from './errors.ts'
import { nameOf, namespaceOf, objectAt, selectorText, stringAt } from './object-fields.ts'
import { resourcePath, type ApiResource, type ResourceCatalog } from './resource-catalog.ts'
import { resolveTargets } from './targets.ts'

export const DESCRIBE_FLAGS: readonly FlagSpec[] = [
  { name: 'selector', short: 'l', type: 'string' },
  { name: 'all-namespaces', short: 'A', type: 'boolean' },
]

const EVENTS = { group: '', version: 'v1', name: 'events', namespaced: true } as const
const ENDPOINTS = { group: '', version: 'v1', name: 'endpoints', namespaced: true } as const
const PODS = { group: '', version: 'v1', name: 'pods', namespaced: true } as const

/** Runs `describe`; returns the exit code. */
export async function runDescribe(context: CommandContext, args: ParsedArguments): Promise<number> {
  const catalog = await context.catalog()
  const targets = resolveTargets(args.positionals, catalog, 'describe')
  const allNamespaces = args.boolean('all-namespaces')
  const errors: unknown[] = []
  const texts: string[] = []
  for (const { resource, names } of targets) {
    const namespace = resource.namespaced && !allNamespaces ? context.namespace : undefined
    let objects: JsonObject[] = []
    if (names.length === 0) {
      const list = await context.client.json({ method: 'GET', path: resourcePath(resource, namespace), query: { labelSelector: args.string('selector') } })
      objects = Array.isArray(list['items']) ? list['items'].filter(isJsonObject) : []
    }
    for (const name of names) {
      try {
        objects.push(await context.client.json({ method: 'GET', path: resourcePath(resource, namespace, name) }))
      } catch (error) {
        if (!(error instanceof ServerError)) throw error
        errors.push(error)
      }
    }
    for (const object of objects) {
      const typed = { ...object, apiVersion: stringAt(object, ['apiVersion']) || (resource.group === '' ? resource.version : `${resource.group}/${resource.version}`), kind: stringAt(object, ['kind']) || resource.kind }
      texts.push(describeObject(resource.kind, typed, await relatedOf(context, catalog, resource, typed), context.io.nowMs()))
    }
  }
  context.io.write(texts.join('\n\n'))
  if (texts.length === 0 && errors.length === 0) context.io.error(targets.every((target) => target.resource.namespaced) && !allNamespaces ? `No resources found in ${context.namespace} namespace.\n` : 'No resources found\n')
  for (const error of errors) context.io.error(`${formatError(error)}\n`)
  return errors.length > 0 ? 1 : 0
}

/** Events and kind-specific related objects; lists that fail are left out. */
async function relatedOf(context: CommandContext, catalog: ResourceCatalog, resource: ApiResource, object: JsonObject): Promise<DescribeRelated> {
  const namespace = namespaceOf(object)
  const uid = stringAt(object, ['metadata', 'uid'])
  const selector = [`involvedObject.name=${nameOf(object)}`, ...(namespace !== undefined ? [`involvedObject.namespace=${namespace}`] : []), ...(uid !== '' ? [`involvedObject.uid=${uid}`] : [])].join(',')
  const listItems = async (path: string, query: Record<string, string | undefined>): Promise<JsonObject[] | undefined> => {
    try {
      const list = await context.client.json({ method: 'GET', path, query })
      return Array.isArray(list['items']) ? list['items'].filter(isJsonObject) : []
    } catch (error) {
      if (error instanceof ServerError) return undefined
      throw error
    }
  }
  const events = (await listItems(resourcePath(EVENTS, namespace), { fieldSelector: selector })) ?? []
  const labelSelector = selectorText(objectAt(object, 'spec', 'selector'))
  if (resource.kind === 'Deployment' && resource.group === 'apps') {
    const replicaSets = catalog.resources.find((candidate) => candidate.group === 'apps' && candidate.kind === 'ReplicaSet' && candidate.preferred)
    const sets = replicaSets === undefined || labelSelector === '' ? [] : ((await listItems(resourcePath(replicaSets, namespace), { labelSelector })) ?? [])
    return { events, replicaSets: ownedReplicaSets(object, sets) }
  }
  if (resource.kind === 'ReplicaSet' && resource.group === 'apps') {
    return { events, pods: labelSelector === '' ? [] : ((await listItems(resourcePath(PODS, namespace), { labelSelector })) ?? []) }
  }
  if (resource.kind === 'Service' && resource.group === '') {
    try {
      return { events, endpoints: await context.client.json({ method: 'GET', path: resourcePath(ENDPOINTS, namespace, nameOf(object)) }) }
    } catch (error) {
      if (!(error instanceof ServerError)) throw error
    }
  }
  return { events }
}
