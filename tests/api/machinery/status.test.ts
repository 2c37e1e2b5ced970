// Goal: every error Flotilla's API returns is a Status with the code, reason, message and details
// a real kube-apiserver would send, and nothing thrown internally leaks into a response.
// Method: a table of constructors and the exact Status JSON expected (messages from real servers),
// then toStatus on ApiErrors, our operational errors and arbitrary thrown values.
import t from 'tap'
import { CorruptDataError, NotLeaderError, TimeoutError } from '../../../lib/errors.ts'
import { fieldInvalid, fieldNotSupported, fieldRequired } from '../../../node/src/api/machinery/field-errors.ts'
import {
  alreadyExists,
  ApiError,
  badRequest,
  conflict,
  expired,
  forbidden,
  gone,
  internalError,
  invalid,
  methodNotAllowed,
  notAcceptable,
  notFound,
  pathNotFound,
  requestEntityTooLarge,
  resourceVersionTooOld,
  serviceUnavailable,
  successStatus,
  timeout,
  tooManyRequests,
  toStatus,
  unauthorized,
  unsupportedMediaType,
  UNEXPECTED_ERROR_MESSAGE,
} from '../../../node/src/api/machinery/status.ts'

const deployments = { group: 'apps', resource: 'deployments' }
const configmaps = { group: '', resource: 'configmaps' }

function failure(code: number, reason: string, message: string, details?: object): object {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, ...(details ? { details } : {}), code }
}

t.test('constructors produce the Status a real API server sends', async (t) => {
  const cases: Array<[string, ApiError, object]> = [
    ['not found (group)', notFound(deployments, 'web'), failure(404, 'NotFound', 'deployments.apps "web" not found', { name: 'web', group: 'apps', kind: 'deployments' })],
    ['not found (core)', notFound({ group: '', resource: 'pods' }, 'x'), failure(404, 'NotFound', 'pods "x" not found', { name: 'x', kind: 'pods' })],
    ['unknown path', pathNotFound(), failure(404, 'NotFound', 'the server could not find the requested resource', {})],
    ['already exists', alreadyExists({ group: '', resource: 'namespaces' }, 'team-a'), failure(409, 'AlreadyExists', 'namespaces "team-a" already exists', { name: 'team-a', kind: 'namespaces' })],
    [
      'conflict',
      conflict(configmaps, 'x'),
      failure(409, 'Conflict', 'Operation cannot be fulfilled on configmaps "x": the object has been modified; please apply your changes to the latest version and try again', {
        name: 'x',
        kind: 'configmaps',
      }),
    ],
    [
      'conflict with another detail',
      conflict(deployments, 'web', 'StorageError: invalid object'),
      failure(409, 'Conflict', 'Operation cannot be fulfilled on deployments.apps "web": StorageError: invalid object', { name: 'web', group: 'apps', kind: 'deployments' }),
    ],
    ['bad request', badRequest('a container name must be specified for pod x, choose one of: [a b]'), failure(400, 'BadRequest', 'a container name must be specified for pod x, choose one of: [a b]')],
    ['unauthorized', unauthorized(), failure(401, 'Unauthorized', 'Unauthorized')],
    [
      'forbidden (item)',
      forbidden({ group: '', resource: 'pods' }, 'x', 'User "bob" cannot get resource "pods"'),
      failure(403, 'Forbidden', 'pods "x" is forbidden: User "bob" cannot get resource "pods"', { name: 'x', kind: 'pods' }),
    ],
    ['forbidden (collection)', forbidden(deployments, '', 'no'), failure(403, 'Forbidden', 'deployments.apps is forbidden: no', { group: 'apps', kind: 'deployments' })],
    ['method not allowed', methodNotAllowed({ group: '', resource: 'namespaces' }, 'deletecollection'), failure(405, 'MethodNotAllowed', 'deletecollection is not supported on resources of kind "namespaces"', { kind: 'namespaces' })],
    ['not acceptable', notAcceptable(['application/json', 'application/yaml']), failure(406, 'NotAcceptable', 'only the following media types are accepted: application/json, application/yaml')],
    [
      'unsupported media type',
      unsupportedMediaType(['application/json-patch+json', 'application/merge-patch+json']),
      failure(415, 'UnsupportedMediaType', 'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json'),
    ],
    ['too large', requestEntityTooLarge('limit is 3145728'), failure(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728')],
    ['gone', gone('the pod is gone'), failure(410, 'Gone', 'the pod is gone')],
    ['expired', expired('continue token expired'), failure(410, 'Expired', 'continue token expired')],
    ['too old resource version', resourceVersionTooOld(1, 100n), failure(410, 'Expired', 'too old resource version: 1 (100)')],
    ['too many requests', tooManyRequests('slow down', 1), failure(429, 'TooManyRequests', 'Too many requests: slow down', { retryAfterSeconds: 1 })],
    ['internal error', internalError('disk full'), failure(500, 'InternalError', 'Internal error occurred: disk full', { causes: [{ message: 'disk full' }] })],
    ['service unavailable', serviceUnavailable('no leader'), failure(503, 'ServiceUnavailable', 'no leader')],
    ['timeout', timeout('request did not complete within 60s', 2), failure(504, 'Timeout', 'Timeout: request did not complete within 60s', { retryAfterSeconds: 2 })],
    ['timeout without retry hint', timeout('x'), failure(504, 'Timeout', 'Timeout: x', {})],
  ]
  for (const [name, error, expected] of cases) {
    t.same(JSON.parse(JSON.stringify(error.toStatus())), expected, name)
    t.ok(error instanceof ApiError && error.name === 'ApiError', `${name}: an ApiError`)
    t.equal(error.message, (expected as { message: string }).message, `${name}: the error message is the Status message`)
  }
})

t.test('Invalid lists every field error as a cause and in the message', async (t) => {
  const one = invalid({ group: 'apps', kind: 'Deployment' }, 'web', [fieldRequired('spec.selector')])
  t.same(one.toStatus(), failure(422, 'Invalid', 'Deployment.apps "web" is invalid: spec.selector: Required value', {
    name: 'web',
    group: 'apps',
    kind: 'Deployment',
    causes: [{ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.selector' }],
  }))
  const several = invalid({ group: '', kind: 'Pod' }, 'x', [
    fieldInvalid('metadata.name', 'X', 'bad name'),
    fieldNotSupported('spec.restartPolicy', 'Sometimes', ['Always', 'Never']),
    fieldInvalid('metadata.name', 'X', 'bad name'),
  ])
  t.equal(several.message, 'Pod "x" is invalid: [metadata.name: Invalid value: "X": bad name, spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "Never"]')
  t.same(several.details?.causes, [
    { reason: 'FieldValueInvalid', message: 'Invalid value: "X": bad name', field: 'metadata.name' },
    { reason: 'FieldValueNotSupported', message: 'Unsupported value: "Sometimes": supported values: "Always", "Never"', field: 'spec.restartPolicy' },
    { reason: 'FieldValueInvalid', message: 'Invalid value: "X": bad name', field: 'metadata.name' },
  ])
  t.equal(several.code, 422)
  t.equal(invalid({ group: '', kind: 'Pod' }, 'x', []).message, 'Pod "x" is invalid')
})

t.test('success Status for deletes', async (t) => {
  t.same(successStatus({ name: 'web', group: 'apps', kind: 'deployments', uid: 'u-1' }), {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Success',
    details: { name: 'web', group: 'apps', kind: 'deployments', uid: 'u-1' },
    code: 200,
  })
  t.same(successStatus({ name: 'x', group: '', kind: 'pods' }).details, { name: 'x', kind: 'pods' }, 'core group omitted')
})

t.test('toStatus maps anything thrown without leaking internals', async (t) => {
  const secret = new TypeError("Cannot read properties of undefined (reading 'spec') at /srv/flotilla/node/src/api/handler.ts:42")
  const cases: Array<[string, unknown, number, string, string]> = [
    ['ApiError', notFound(deployments, 'web'), 404, 'NotFound', 'deployments.apps "web" not found'],
    ['no leader', new NotLeaderError('this node has no leader', undefined), 503, 'ServiceUnavailable', 'this node has no leader'],
    ['deadline', new TimeoutError('write not committed within 5000 ms'), 504, 'Timeout', 'Timeout: write not committed within 5000 ms'],
    ['operational error', new CorruptDataError('record 7 failed its checksum'), 500, 'InternalError', 'Internal error occurred: record 7 failed its checksum'],
    ['programming error', secret, 500, 'InternalError', `Internal error occurred: ${UNEXPECTED_ERROR_MESSAGE}`],
    ['thrown string', 'boom', 500, 'InternalError', `Internal error occurred: ${UNEXPECTED_ERROR_MESSAGE}`],
    ['undefined', undefined, 500, 'InternalError', `Internal error occurred: ${UNEXPECTED_ERROR_MESSAGE}`],
  ]
  for (const [name, thrown, code, reason, message] of cases) {
    const status = toStatus(thrown)
    t.equal(status.code, code, name)
    t.equal(status.reason, reason, name)
    t.equal(status.message, message, name)
    t.equal(status.status, 'Failure', name)
    const text = JSON.stringify(status)
    t.notMatch(text, /handler\.ts|    at |TypeError/, `${name}: no stack or internals`)
  }
})
