/**
 * Container probes (liveness, readiness, startup) and lifecycle hooks: their defaults
 * (`SetDefaults_Probe`, `SetDefaults_HTTPGetAction`) and validation (`validateProbe`,
 * `validateHandler`). A probe or hook runs exactly one handler.
 */
import { isJsonObject, type JsonObject, type JsonValue } from '../../machinery/canonical.ts'
import { fieldForbidden, fieldInvalid, fieldRequired, type FieldError } from '../../machinery/field-errors.ts'
import { regexMessage } from '../../machinery/names.ts'
import { enumErrors, nonNegativeErrors, positiveErrors } from './field-checks.ts'
import { portNumberMessages, portNumberOrNameErrors } from './formats.ts'
import { childPath, isInteger, isSet, listAt, objectAt, setDefaultUnlessNonZero, stringAt } from './json-access.ts'

/** The handlers a probe may use, in the order Kubernetes checks them. */
const PROBE_HANDLERS: readonly string[] = ['exec', 'httpGet', 'tcpSocket', 'grpc']
/** The handlers a lifecycle hook (postStart, preStop) may use. */
const LIFECYCLE_HANDLERS: readonly string[] = ['exec', 'httpGet', 'tcpSocket', 'sleep']
const HTTP_HEADER_NAME = /^[-A-Za-z0-9]+$/
const HTTP_HEADER_NAME_MESSAGE = regexMessage("a valid HTTP header must consist of alphanumeric characters or '-'", '[-A-Za-z0-9]+', 'X-Header-Name')

function defaultHttpGet(handler: JsonObject): void {
  if (isJsonObject(handler['httpGet'])) {
    setDefaultUnlessNonZero(handler['httpGet'], 'path', '/')
    setDefaultUnlessNonZero(handler['httpGet'], 'scheme', 'HTTP')
  }
}

/** Fills a probe's defaults in place: 1 s timeout, every 10 s, 1 success, 3 failures. */
export function defaultProbe(value: JsonValue | undefined): void {
  if (!isJsonObject(value)) return
  setDefaultUnlessNonZero(value, 'timeoutSeconds', 1)
  setDefaultUnlessNonZero(value, 'periodSeconds', 10)
  setDefaultUnlessNonZero(value, 'successThreshold', 1)
  setDefaultUnlessNonZero(value, 'failureThreshold', 3)
  defaultHttpGet(value)
}

/** Fills the defaults of a container's lifecycle hooks in place. */
export function defaultLifecycle(value: JsonValue | undefined): void {
  if (!isJsonObject(value)) return
  for (const hook of ['postStart', 'preStop']) if (isJsonObject(value[hook])) defaultHttpGet(value[hook])
}

function httpGetErrors(action: JsonObject, path: string): FieldError[] {
  const errors: FieldError[] = []
  if (stringAt(action['path']) === '') errors.push(fieldRequired(childPath(path, 'path')))
  errors.push(...portNumberOrNameErrors(action['port'], childPath(path, 'port')))
  errors.push(...enumErrors(action['scheme'], childPath(path, 'scheme'), ['HTTP', 'HTTPS']))
  for (const header of listAt(action['httpHeaders'])) {
    const name = stringAt(objectAt(header)['name'])
    if (!HTTP_HEADER_NAME.test(name)) errors.push(fieldInvalid(childPath(path, 'httpHeaders'), name, HTTP_HEADER_NAME_MESSAGE))
  }
  return errors
}

function actionErrors(kind: string, action: JsonObject, path: string): FieldError[] {
  switch (kind) {
    case 'exec':
      return listAt(action['command']).length === 0 ? [fieldRequired(childPath(path, 'command'))] : []
    case 'httpGet':
      return httpGetErrors(action, path)
    case 'tcpSocket':
      return portNumberOrNameErrors(action['port'], childPath(path, 'port'))
    case 'grpc': {
      const port = action['port']
      const messages = isInteger(port) ? portNumberMessages(port) : ['must be between 1 and 65535, inclusive']
      return messages.map((message) => fieldInvalid(childPath(path, 'port'), port ?? null, message))
    }
    case 'sleep':
      return nonNegativeErrors(action['seconds'], childPath(path, 'seconds'))
    default:
      return []
  }
}

/** Exactly one handler, each valid (`validateHandler`). */
export function handlerErrors(handler: JsonObject, path: string, kinds: readonly string[] = PROBE_HANDLERS): FieldError[] {
  const errors: FieldError[] = []
  let handlers = 0
  for (const kind of kinds) {
    if (!isSet(handler[kind])) continue
    if (handlers > 0) {
      errors.push(fieldForbidden(childPath(path, kind), 'may not specify more than 1 handler type'))
      continue
    }
    handlers++
    errors.push(...actionErrors(kind, objectAt(handler[kind]), childPath(path, kind)))
  }
  if (handlers === 0) errors.push(fieldRequired(path, 'must specify a handler type'))
  return errors
}

/**
 * A probe under `path` (absent is fine). Liveness and startup probes must have
 * `successThreshold: 1`: a container that is alive once is alive.
 */
export function probeErrors(value: JsonValue | undefined, path: string, kind: 'liveness' | 'readiness' | 'startup'): FieldError[] {
  if (!isSet(value)) return []
  if (!isJsonObject(value)) return [fieldInvalid(path, value, 'must be an object')]
  const errors = handlerErrors(value, path)
  for (const field of ['initialDelaySeconds', 'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold']) {
    errors.push(...nonNegativeErrors(value[field], childPath(path, field)))
  }
  const gracePeriod = value['terminationGracePeriodSeconds']
  if (kind === 'readiness' && isSet(gracePeriod)) errors.push(fieldInvalid(childPath(path, 'terminationGracePeriodSeconds'), gracePeriod, 'must not be set for readinessProbes'))
  else errors.push(...positiveErrors(gracePeriod, childPath(path, 'terminationGracePeriodSeconds'), 'must be greater than 0'))
  const successThreshold = value['successThreshold']
  if (kind !== 'readiness' && isInteger(successThreshold) && successThreshold !== 1) {
    errors.push(fieldInvalid(childPath(path, 'successThreshold'), successThreshold, 'must be 1'))
  }
  return errors
}

/** A container's lifecycle hooks: each set hook runs exactly one handler. */
export function lifecycleErrors(value: JsonValue | undefined, path: string): FieldError[] {
  if (!isJsonObject(value)) return []
  const errors: FieldError[] = []
  for (const hook of ['postStart', 'preStop']) {
    if (isSet(value[hook])) errors.push(...handlerErrors(objectAt(value[hook]), childPath(path, hook), LIFECYCLE_HANDLERS))
  }
  return errors
}
