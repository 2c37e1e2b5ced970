/**
 * A container's environment as the kubelet computes it (`makeEnvironmentVariables`), and the
 * `$(VAR)` expansion of env values, command and args.
 *
 * Order of resolution, as in Kubernetes:
 *
 * 1. `envFrom`, source by source: every key of the config map or secret (with the source's
 *    prefix) becomes a variable. Keys that are not valid variable names are skipped (the kubelet
 *    records an InvalidEnvironmentVariableNames event; we have no recorder here and skip quietly).
 *    A missing source fails unless it is `optional`.
 * 2. `env`, in declaration order: a literal `value` has its `$(VAR)` references expanded against
 *    the variables resolved so far (so a reference to a later variable stays literal); otherwise
 *    `valueFrom` is resolved (configMapKeyRef, secretKeyRef, fieldRef, resourceFieldRef). `env`
 *    overrides `envFrom`, and a later entry with the same name overrides an earlier one.
 *
 * The result lists every variable once, in the order its name first appeared. The kubelet's own
 * order is Go map order (random); a stable order keeps container spec hashes and tests stable.
 *
 * Service link variables (`enableServiceLinks`, `<SVC>_SERVICE_HOST`…) are not produced here:
 * they need the cluster's Services, which the caller does not pass.
 *
 * The pod-field and container-resource readers (`podFieldValue`, `containerResourceValue`) are
 * exported for downwardAPI volumes, which expose the same values as files.
 */
import { availableParallelism, totalmem } from 'node:os'
import { isJsonObject, type JsonObject, type JsonValue } from '../api/machinery/canonical.ts'
import { parseQuantity, type Quantity } from '../api/machinery/quantity.ts'

/**
 * A container cannot be created because its configuration does not resolve: a missing config map,
 * secret or key, an unsupported field. The agent shows the message as the container's waiting
 * reason CreateContainerConfigError, so it is the kubelet's message word for word.
 */
export class ContainerConfigError extends Error {
  override name = 'ContainerConfigError'
}

/** Reads config maps and secrets of the cluster (from an informer cache); undefined when absent. */
export interface ConfigSources {
  configMap(namespace: string, name: string): JsonObject | undefined
  secret(namespace: string, name: string): JsonObject | undefined
}

/** What the node knows about the pod beyond its spec, for `fieldRef` and `resourceFieldRef`. */
export interface EnvContext {
  nodeName: string
  nodeIp?: string
  podIp?: string
  podIps?: string[]
  serviceAccountName?: string
  /**
   * The node's allocatable resources as quantities (`cpu: "4"`, `memory: "8000Mi"`): the value a
   * `limits.*` resourceFieldRef reads when the container sets no limit, as the kubelet's
   * `defaultPodLimitsForDownwardAPI` does. Absent: this machine's cores and memory.
   */
  nodeAllocatable?: Readonly<Record<string, string>>
}

export interface EnvVar {
  name: string
  value: string
}

/**
 * env + envFrom of one container, resolved (see the module comment for the order).
 * @throws ContainerConfigError for a missing non-optional source or key, or an unsupported field.
 */
export function resolveContainerEnv(pod: JsonObject, container: JsonObject, sources: ConfigSources, context: EnvContext): { name: string; value: string }[] {
  const namespace = podNamespace(pod)
  const lookups = new SourceLookups(namespace, sources)
  const resolved = new Map<string, string>()
  for (const envFrom of objectsOf(container['envFrom'])) {
    const prefix = stringOf(envFrom['prefix'])
    for (const [key, value] of envFromEntries(envFrom, lookups)) {
      const name = prefix + key
      if (isEnvVarName(name)) resolved.set(name, value)
    }
  }
  for (const envVar of objectsOf(container['env'])) {
    const name = stringOf(envVar['name'])
    const literal = stringOf(envVar['value'])
    if (literal !== '') {
      resolved.set(name, expandVariables(literal, (variable) => resolved.get(variable)))
      continue
    }
    const valueFrom = envVar['valueFrom']
    const value = isJsonObject(valueFrom) ? resolveValueFrom(valueFrom, pod, container, lookups, context) : ''
    // An optional reference that does not resolve leaves the variable unset (not empty).
    if (value !== undefined) resolved.set(name, value)
  }
  return [...resolved].map(([name, value]) => ({ name, value }))
}

/**
 * A container's `command` or `args` with `$(VAR)` references to its resolved environment
 * expanded (`$$` is a literal `$`; references to unknown variables stay as written). Undefined
 * in, undefined out, so "not set" (use the image's entrypoint or cmd) survives.
 */
export function expandContainerCommand(values: readonly string[] | undefined, env: readonly { readonly name: string; readonly value: string }[]): string[] | undefined {
  if (values === undefined) return undefined
  const variables = new Map(env.map((variable) => [variable.name, variable.value]))
  return values.map((value) => expandVariables(value, (name) => variables.get(name)))
}

/**
 * Kubernetes' `expansion.Expand`: `$(NAME)` becomes the variable's value when `lookup` knows it
 * and stays `$(NAME)` otherwise; `$$` becomes `$`; a `$` before anything else, or an unclosed
 * `$(`, is copied as is.
 */
export function expandVariables(input: string, lookup: (name: string) => string | undefined): string {
  let output = ''
  let checkpoint = 0
  for (let cursor = 0; cursor < input.length; cursor++) {
    if (input[cursor] !== '$' || cursor + 1 >= input.length) continue
    output += input.slice(checkpoint, cursor)
    const next = input[cursor + 1]
    let advance = 1
    if (next === '$') {
      output += '$'
    } else if (next === '(') {
      const closer = input.indexOf(')', cursor + 2)
      if (closer === -1) {
        output += '$('
      } else {
        const name = input.slice(cursor + 2, closer)
        output += lookup(name) ?? `$(${name})`
        advance = closer - cursor
      }
    } else {
      output += `$${next}`
    }
    cursor += advance
    checkpoint = cursor + 1
  }
  return output + input.slice(checkpoint)
}

/** Kubernetes' `IsEnvVarName`: letters, digits, `_`, `-`, `.`, not starting with a digit. */
export function isEnvVarName(name: string): boolean {
  return /^[-._a-zA-Z][-._a-zA-Z0-9]*$/.test(name)
}

// ---------------------------------------------------------------------------------------------
// Sources

/**
 * Config maps and secrets looked up at most once per resolution, as the kubelet caches them per
 * call, so one container sees one version of each object.
 */
class SourceLookups {
  private readonly namespace: string
  private readonly sources: ConfigSources
  private readonly configMaps = new Map<string, JsonObject | undefined>()
  private readonly secrets = new Map<string, JsonObject | undefined>()

  constructor(namespace: string, sources: ConfigSources) {
    this.namespace = namespace
    this.sources = sources
  }

  configMap(name: string): JsonObject | undefined {
    if (!this.configMaps.has(name)) this.configMaps.set(name, this.sources.configMap(this.namespace, name))
    return this.configMaps.get(name)
  }

  secret(name: string): JsonObject | undefined {
    if (!this.secrets.has(name)) this.secrets.set(name, this.sources.secret(this.namespace, name))
    return this.secrets.get(name)
  }

  missingKey(key: string, kind: 'ConfigMap' | 'Secret', name: string): ContainerConfigError {
    return new ContainerConfigError(`couldn't find key ${key} in ${kind} ${this.namespace}/${name}`)
  }
}

/** The API server's NotFound message, which is what the kubelet reports for a missing source. */
function notFound(kind: 'configmap' | 'secret', name: string): ContainerConfigError {
  return new ContainerConfigError(`${kind} "${name}" not found`)
}

/** The entries of an envFrom source, keys sorted; none for a missing optional source. */
function envFromEntries(envFrom: JsonObject, lookups: SourceLookups): [string, string][] {
  const configMapRef = envFrom['configMapRef']
  const secretRef = envFrom['secretRef']
  if (isJsonObject(configMapRef)) {
    const name = stringOf(configMapRef['name'])
    const configMap = lookups.configMap(name)
    if (configMap === undefined) {
      if (configMapRef['optional'] === true) return []
      throw notFound('configmap', name)
    }
    return sortedEntries(configMapData(configMap))
  }
  if (isJsonObject(secretRef)) {
    const name = stringOf(secretRef['name'])
    const secret = lookups.secret(name)
    if (secret === undefined) {
      if (secretRef['optional'] === true) return []
      throw notFound('secret', name)
    }
    return sortedEntries(secretData(secret)).map(([key, bytes]) => [key, bytes.toString('utf8')])
  }
  return []
}

/** A variable's `valueFrom`; undefined when an optional reference does not resolve. */
function resolveValueFrom(valueFrom: JsonObject, pod: JsonObject, container: JsonObject, lookups: SourceLookups, context: EnvContext): string | undefined {
  const { configMapKeyRef, secretKeyRef, fieldRef, resourceFieldRef } = valueFrom
  if (isJsonObject(fieldRef)) return podFieldValue(pod, stringOf(fieldRef['fieldPath']), context)
  if (isJsonObject(resourceFieldRef)) {
    const containerName = stringOf(resourceFieldRef['containerName'])
    const target = containerName === '' ? container : findContainer(pod, containerName)
    return containerResourceValue(target, resourceFieldRef, context.nodeAllocatable)
  }
  if (isJsonObject(configMapKeyRef)) {
    const name = stringOf(configMapKeyRef['name'])
    const key = stringOf(configMapKeyRef['key'])
    const optional = configMapKeyRef['optional'] === true
    const configMap = lookups.configMap(name)
    if (configMap === undefined) {
      if (optional) return undefined
      throw notFound('configmap', name)
    }
    const value = configMapData(configMap).get(key)
    if (value === undefined && !optional) throw lookups.missingKey(key, 'ConfigMap', name)
    return value
  }
  if (isJsonObject(secretKeyRef)) {
    const name = stringOf(secretKeyRef['name'])
    const key = stringOf(secretKeyRef['key'])
    const optional = secretKeyRef['optional'] === true
    const secret = lookups.secret(name)
    if (secret === undefined) {
      if (optional) return undefined
      throw notFound('secret', name)
    }
    const bytes = secretData(secret).get(key)
    if (bytes === undefined && !optional) throw lookups.missingKey(key, 'Secret', name)
    return bytes?.toString('utf8')
  }
  return ''
}

/** A config map's `data` (string values only). */
export function configMapData(configMap: JsonObject): Map<string, string> {
  const data = new Map<string, string>()
  const field = configMap['data']
  if (!isJsonObject(field)) return data
  for (const [key, value] of Object.entries(field)) if (typeof value === 'string') data.set(key, value)
  return data
}

/** A config map's `binaryData`, decoded from base64. */
export function configMapBinaryData(configMap: JsonObject): Map<string, Buffer> {
  return base64Map(configMap['binaryData'])
}

/**
 * A secret's `data`, decoded from base64. `stringData` is write-only: the API server folds it into
 * `data` and never stores it, so it is not read here.
 */
export function secretData(secret: JsonObject): Map<string, Buffer> {
  return base64Map(secret['data'])
}

function base64Map(field: JsonValue | undefined): Map<string, Buffer> {
  const data = new Map<string, Buffer>()
  if (!isJsonObject(field)) return data
  for (const [key, value] of Object.entries(field)) if (typeof value === 'string') data.set(key, Buffer.from(value, 'base64'))
  return data
}

// ---------------------------------------------------------------------------------------------
// The downward API

/**
 * A pod field as text (`podFieldSelectorRuntimeValue` + `ExtractFieldPathAsString`): metadata
 * name/namespace/uid, one label or annotation (`metadata.labels['k']`, empty when absent), all of
 * them as `k="v"` lines, and the fields only the node knows (node name, IPs).
 * @throws ContainerConfigError for a path the downward API does not support.
 */
export function podFieldValue(pod: JsonObject, fieldPath: string, context: EnvContext): string {
  const metadata = objectOf(pod['metadata'])
  const spec = objectOf(pod['spec'])
  const podIps = context.podIps ?? (context.podIp === undefined ? [] : [context.podIp])
  const subscripted = /^metadata\.(labels|annotations)\['(.*)'\]$/.exec(fieldPath)
  if (subscripted !== null) {
    const [, map = '', key = ''] = subscripted
    return stringOf(objectOf(metadata[map])[key])
  }
  switch (fieldPath) {
    case 'metadata.name':
    case 'metadata.namespace':
    case 'metadata.uid':
      return stringOf(metadata[fieldPath.slice('metadata.'.length)])
    case 'metadata.labels':
    case 'metadata.annotations':
      return formatMap(objectOf(metadata[fieldPath.slice('metadata.'.length)]))
    case 'spec.nodeName':
      return stringOf(spec['nodeName'], context.nodeName)
    case 'spec.serviceAccountName':
      return stringOf(spec['serviceAccountName'], context.serviceAccountName ?? '')
    case 'status.hostIP':
    case 'status.hostIPs':
      return context.nodeIp ?? ''
    case 'status.podIP':
      return podIps[0] ?? context.podIp ?? ''
    case 'status.podIPs':
      return podIps.join(',')
    default:
      throw new ContainerConfigError(`unsupported fieldPath: ${fieldPath}`)
  }
}

/** Kubernetes' `fieldpath.FormatMap`: `key="value"` lines sorted by key, no trailing newline. */
export function formatMap(map: JsonObject): string {
  return Object.keys(map)
    .filter((key) => typeof map[key] === 'string')
    .sort()
    .map((key) => `${key}=${JSON.stringify(map[key])}`)
    .join('\n')
}

/** The container of the pod (app or init) with that name, for a resourceFieldRef. */
export function findContainer(pod: JsonObject, name: string): JsonObject {
  const spec = objectOf(pod['spec'])
  for (const container of [...objectsOf(spec['containers']), ...objectsOf(spec['initContainers'])]) {
    if (container['name'] === name) return container
  }
  throw new ContainerConfigError(`cannot find container: ${name}`)
}

/**
 * A container resource as text (`ExtractContainerResourceValue`): the quantity divided by the
 * divisor (default 1), rounded up: cpu in milli-units, memory and ephemeral storage in units.
 * An unset limit reads the node's allocatable amount, an unset request reads 0.
 * @throws ContainerConfigError for an unsupported resource or a zero divisor.
 */
export function containerResourceValue(container: JsonObject, resourceFieldRef: JsonObject, nodeAllocatable?: Readonly<Record<string, string>>): string {
  const resource = stringOf(resourceFieldRef['resource'])
  const match = /^(limits|requests)\.(cpu|memory|ephemeral-storage|hugepages-.+)$/.exec(resource)
  if (match === null) throw new ContainerConfigError(`unsupported container resource : ${resource}`)
  const [, section = '', resourceName = ''] = match
  const resources = objectOf(container['resources'])
  let amount = quantityOf(objectOf(resources[section])[resourceName])
  if (amount === undefined && section === 'limits') amount = allocatableOf(resourceName, nodeAllocatable)
  const divisor = quantityOf(resourceFieldRef['divisor']) ?? parseQuantity('1')
  const amountNanos = amount?.nanos ?? 0n
  // cpu divides milli-values, everything else whole units, each rounded up first as Go does.
  const [numerator, denominator] = resourceName === 'cpu' ? [roundUp(amountNanos, 1_000_000n), roundUp(divisor.nanos, 1_000_000n)] : [roundUp(amountNanos, 1_000_000_000n), roundUp(divisor.nanos, 1_000_000_000n)]
  if (denominator <= 0n) throw new ContainerConfigError(`invalid divisor for container resource ${resource}: ${divisor.toString()}`)
  return roundUp(numerator, denominator).toString()
}

function allocatableOf(resourceName: string, nodeAllocatable: Readonly<Record<string, string>> | undefined): Quantity | undefined {
  const given = nodeAllocatable?.[resourceName]
  if (given !== undefined) return quantityOf(given)
  // Without the node's figures, this machine's capacity is the closest stand-in for allocatable.
  if (resourceName === 'cpu') return parseQuantity(String(availableParallelism()))
  if (resourceName === 'memory') return parseQuantity(String(totalmem()))
  return undefined
}

function quantityOf(value: JsonValue | undefined): Quantity | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return parseQuantity(String(value))
  if (typeof value !== 'string' || value === '') return undefined
  try {
    return parseQuantity(value)
  } catch {
    // The API server validated the quantity; an unparsable one can only come from a corrupt
    // object, and reading it as unset is what Kubernetes' zero-value quantity would do.
    return undefined
  }
}

/** ⌈value / unit⌉ for BigInts, for negative values too. */
function roundUp(value: bigint, unit: bigint): bigint {
  const quotient = value / unit
  return value % unit > 0n ? quotient + 1n : quotient
}

// ---------------------------------------------------------------------------------------------
// JSON helpers

function podNamespace(pod: JsonObject): string {
  return stringOf(objectOf(pod['metadata'])['namespace'], 'default')
}

function sortedEntries<T>(map: Map<string, T>): [string, T][] {
  return [...map].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}

function objectOf(value: JsonValue | undefined): JsonObject {
  return isJsonObject(value) ? value : {}
}

function objectsOf(value: JsonValue | undefined): JsonObject[] {
  return Array.isArray(value) ? value.filter(isJsonObject) : []
}

function stringOf(value: JsonValue | undefined, fallback = ''): string {
  return typeof value === 'string' ? value : fallback
}
