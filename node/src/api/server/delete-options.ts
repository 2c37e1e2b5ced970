/**
 * DeleteOptions: how a DELETE (or deletecollection) should delete, from its body and its query.
 *
 * kubectl sends a body (`{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":
 * "Background"}`); other clients use query parameters (`?propagationPolicy=Foreground&
 * gracePeriodSeconds=0&dryRun=All`). Both are read, the body winning where both say something.
 * Preconditions come from the body (`preconditions.uid`, `preconditions.resourceVersion`) or the
 * query (`preconditions.uid=…`). The legacy `orphanDependents` maps to Orphan (true) or
 * Background (false) and may not be combined with `propagationPolicy`.
 */
import { isJsonObject, type JsonObject } from '../machinery/canonical.ts'
import { badRequest } from '../machinery/status.ts'
import type { PropagationPolicy } from './garbage-collection.ts'
import type { Preconditions } from './object-store.ts'
import { dryRunOf } from './request-options.ts'

/** What a DELETE asked for, validated. */
export interface DeleteRequestOptions {
  readonly dryRun: boolean
  readonly propagationPolicy: PropagationPolicy
  /** Seconds before a graceful delete completes; undefined for the resource's default. */
  readonly gracePeriodSeconds: number | undefined
  readonly preconditions: Preconditions
}

const POLICIES: readonly PropagationPolicy[] = ['Foreground', 'Background', 'Orphan']

/** apiVersions a DeleteOptions body may carry (core v1 and meta.k8s.io). */
const DELETE_OPTIONS_API_VERSIONS = new Set(['v1', 'meta.k8s.io/v1', 'meta.k8s.io/v1beta1'])

/**
 * The options of a DELETE from its decoded body (undefined when it had none) and its query.
 * @throws ApiError 400 for unknown policies, bad numbers, both policy forms, a body of another kind.
 */
export function deleteOptionsOf(url: URL, body: JsonObject | undefined): DeleteRequestOptions {
  const options = body ?? {}
  if (options['kind'] !== undefined && options['kind'] !== 'DeleteOptions') throw badRequest(`the body of a delete must be DeleteOptions, got kind ${JSON.stringify(options['kind'])}`)
  if (options['apiVersion'] !== undefined && !DELETE_OPTIONS_API_VERSIONS.has(String(options['apiVersion']))) {
    throw badRequest(`DeleteOptions of apiVersion ${JSON.stringify(options['apiVersion'])} are not supported; use v1`)
  }
  const bodyDryRun = options['dryRun']
  if (bodyDryRun !== undefined && bodyDryRun !== null && !(Array.isArray(bodyDryRun) && bodyDryRun.every((value) => typeof value === 'string'))) {
    throw badRequest('DeleteOptions.dryRun must be a list of strings')
  }
  const preconditions = isJsonObject(options['preconditions']) ? options['preconditions'] : {}
  return {
    dryRun: dryRunOf(url, (bodyDryRun ?? []) as string[]),
    propagationPolicy: propagationPolicyOf(url, options),
    gracePeriodSeconds: gracePeriodOf(options['gracePeriodSeconds'] ?? url.searchParams.get('gracePeriodSeconds') ?? undefined),
    preconditions: {
      ...optionalString('uid', preconditions['uid'] ?? url.searchParams.get('preconditions.uid') ?? undefined),
      ...optionalString('resourceVersion', preconditions['resourceVersion'] ?? url.searchParams.get('preconditions.resourceVersion') ?? undefined),
    },
  }
}

function propagationPolicyOf(url: URL, options: JsonObject): PropagationPolicy {
  const policy = options['propagationPolicy'] ?? url.searchParams.get('propagationPolicy') ?? undefined
  const orphan = options['orphanDependents'] ?? url.searchParams.get('orphanDependents') ?? undefined
  if (policy !== undefined && policy !== null && orphan !== undefined && orphan !== null) {
    throw badRequest('orphanDependents and propagationPolicy cannot both be set; use propagationPolicy')
  }
  if (orphan !== undefined && orphan !== null) {
    if (orphan === true || orphan === 'true') return 'Orphan'
    if (orphan === false || orphan === 'false') return 'Background'
    throw badRequest(`orphanDependents: invalid value ${JSON.stringify(orphan)}: use true or false`)
  }
  if (policy === undefined || policy === null) return 'Background'
  const known = POLICIES.find((candidate) => candidate === policy)
  if (known === undefined) {
    throw badRequest(`propagationPolicy: Unsupported value: ${JSON.stringify(policy)}: supported values: ${POLICIES.map((name) => `"${name}"`).join(', ')}`)
  }
  return known
}

function gracePeriodOf(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined
  const seconds = typeof value === 'string' && /^\d{1,15}$/.test(value) ? Number(value) : value
  if (typeof seconds !== 'number' || !Number.isSafeInteger(seconds) || seconds < 0) {
    throw badRequest(`gracePeriodSeconds: invalid value ${JSON.stringify(value)}: must be a non-negative integer`)
  }
  return seconds
}

function optionalString(name: 'uid' | 'resourceVersion', value: unknown): Partial<Record<'uid' | 'resourceVersion', string>> {
  if (value === undefined || value === null) return {}
  if (typeof value !== 'string') throw badRequest(`preconditions.${name} must be a string`)
  return { [name]: value }
}
