// Goal: field errors print exactly as apimachinery's field.Error, which kubectl shows users.
// Method: a table of constructed errors and their expected text; aggregation and Go quoting.
import t from 'tap'
import {
  aggregateMessage,
  fieldDuplicate,
  fieldForbidden,
  fieldInvalid,
  fieldNotSupported,
  fieldRequired,
  fieldTooLong,
  formatFieldError,
  goQuote,
  type FieldError,
} from '../../../node/src/api/machinery/field-errors.ts'

t.test('each kind of field error prints like field.Error', async (t) => {
  const cases: Array<[FieldError, string]> = [
    [fieldRequired('spec.selector'), 'spec.selector: Required value'],
    [fieldRequired('spec.template.spec.containers[0].name', 'name is required'), 'spec.template.spec.containers[0].name: Required value: name is required'],
    [fieldInvalid('spec.replicas', -1, 'must be greater than or equal to 0'), 'spec.replicas: Invalid value: -1: must be greater than or equal to 0'],
    [fieldInvalid('metadata.name', 'Web', 'bad'), 'metadata.name: Invalid value: "Web": bad'],
    [fieldInvalid('spec.paused', true, ''), 'spec.paused: Invalid value: true'],
    [fieldInvalid('spec.selector', { matchLabels: { app: 'x' } }, '`selector` does not match template `labels`'), 'spec.selector: Invalid value: {"matchLabels":{"app":"x"}}: `selector` does not match template `labels`'],
    [fieldInvalid('values', [], 'empty'), 'values: Invalid value: []: empty'],
    [fieldNotSupported('spec.restartPolicy', 'Sometimes', ['Always', 'OnFailure', 'Never']), 'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"'],
    [fieldDuplicate('spec.containers[1].name', 'web'), 'spec.containers[1].name: Duplicate value: "web"'],
    [fieldTooLong('metadata.annotations', 262144), 'metadata.annotations: Too long: may not be more than 262144 bytes'],
    [fieldForbidden('spec.selector', 'field is immutable'), 'spec.selector: Forbidden: field is immutable'],
  ]
  for (const [error, expected] of cases) t.equal(formatFieldError(error), expected, expected)
})

t.test('aggregates deduplicate and bracket several messages', async (t) => {
  t.equal(aggregateMessage([]), '')
  t.equal(aggregateMessage(['a']), 'a')
  t.equal(aggregateMessage(['a', 'a']), 'a')
  t.equal(aggregateMessage(['a', 'b', 'a']), '[a, b]')
})

t.test('goQuote escapes like Go %q', async (t) => {
  const cases: Array<[string, string]> = [
    ['web', '"web"'],
    ['say "hi"\\', '"say \\"hi\\"\\\\"'],
    ['a\nb\tc\x01\x7f', '"a\\nb\\tc\\x01\\x7f"'],
    ['héllo', '"héllo"'],
  ]
  for (const [input, expected] of cases) t.equal(goQuote(input), expected, expected)
})
