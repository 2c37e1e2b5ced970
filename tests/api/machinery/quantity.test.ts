// Goal: resource quantities parse, print and compare exactly as Kubernetes' resource.Quantity does,
// with no floating-point error. Method: a table of inputs with their canonical text, format,
// millis and whole units (expected values taken from apimachinery's documented behaviour), tables
// of invalid inputs with the real error messages, and arithmetic/comparison checks.
import t from 'tap'
import { InvalidQuantityError, isQuantity, parseQuantity, Quantity, QUANTITY_FORMAT_MESSAGE } from '../../../node/src/api/machinery/quantity.ts'

t.test('parse and canonical form', async (t) => {
  // input, canonical text, format, toMilli(), value() (whole units, rounded up)
  const cases: Array<[string, string, string, bigint, bigint]> = [
    ['0', '0', 'DecimalSI', 0n, 0n],
    ['1', '1', 'DecimalSI', 1000n, 1n],
    ['100m', '100m', 'DecimalSI', 100n, 1n],
    ['250m', '250m', 'DecimalSI', 250n, 1n],
    ['0.1', '100m', 'DecimalSI', 100n, 1n],
    ['1.5', '1500m', 'DecimalSI', 1500n, 2n],
    ['.5', '500m', 'DecimalSI', 500n, 1n],
    ['1.', '1', 'DecimalSI', 1000n, 1n],
    ['+1', '1', 'DecimalSI', 1000n, 1n],
    ['-1.5', '-1500m', 'DecimalSI', -1500n, -1n],
    ['0.001', '1m', 'DecimalSI', 1n, 1n],
    ['1.2345', '1234500u', 'DecimalSI', 1235n, 2n],
    ['1u', '1u', 'DecimalSI', 1n, 1n],
    ['1n', '1n', 'DecimalSI', 1n, 1n],
    ['0.9n', '1n', 'DecimalSI', 1n, 1n],
    ['1k', '1k', 'DecimalSI', 1_000_000n, 1000n],
    ['1000k', '1M', 'DecimalSI', 1_000_000_000n, 1_000_000n],
    ['1500k', '1500k', 'DecimalSI', 1_500_000_000n, 1_500_000n],
    ['128974848', '128974848', 'DecimalSI', 128974848000n, 128974848n],
    ['129e6', '129e6', 'DecimalExponent', 129_000_000_000n, 129_000_000n],
    ['1E3', '1e3', 'DecimalExponent', 1_000_000n, 1000n],
    ['1.5e3', '1500', 'DecimalExponent', 1_500_000n, 1500n],
    ['1e-20', '1e-9', 'DecimalExponent', 1n, 1n],
    ['1000E', '1e21', 'DecimalSI', 10n ** 24n, 10n ** 21n],
    ['18446744073709551616', '18446744073709551616', 'DecimalSI', 18446744073709551616000n, 18446744073709551616n],
    ['1Ki', '1Ki', 'BinarySI', 1_024_000n, 1024n],
    ['1.5Gi', '1536Mi', 'BinarySI', 1610612736000n, 1610612736n],
    ['128Mi', '128Mi', 'BinarySI', 134217728000n, 134217728n],
    ['2048Ki', '2Mi', 'BinarySI', 2097152000n, 2097152n],
    ['1000Ki', '1000Ki', 'BinarySI', 1_024_000_000n, 1_024_000n],
    ['1Ti', '1Ti', 'BinarySI', 1099511627776000n, 1099511627776n],
    ['0.5Ki', '512', 'BinarySI', 512_000n, 512n],
    ['1.1Ki', '1126400m', 'BinarySI', 1_126_400n, 1127n],
    ['0.1Ki', '102400m', 'BinarySI', 102_400n, 103n],
    ['8Ei', '9223372036854775807', 'BinarySI', 9223372036854775807000n, 9223372036854775807n],
    ['-8Ei', '-9223372036854775807', 'BinarySI', -9223372036854775807000n, -9223372036854775807n],
  ]
  for (const [text, canonical, format, milli, units] of cases) {
    const quantity = parseQuantity(text)
    t.equal(quantity.toString(), canonical, `${text} prints as ${canonical}`)
    t.equal(quantity.format, format, `${text} format`)
    t.equal(quantity.toMilli(), milli, `${text} millis`)
    t.equal(quantity.value(), units, `${text} units`)
    t.equal(parseQuantity(canonical).toString(), canonical, `${canonical} is stable`)
  }
  t.equal(parseQuantity('0.00000000001m').format, 'DecimalSI')
  t.equal(parseQuantity('0.5Mi').format, 'BinarySI', '0.5Mi is 512Ki: still binary')
  t.equal(parseQuantity('0.5Mi').toString(), '512Ki')
  t.equal(JSON.stringify({ cpu: parseQuantity('1.5') }), '{"cpu":"1500m"}')
  t.equal(parseQuantity('1.5Gi').toBytes(), 1610612736n)
})

t.test('invalid quantities carry the real API server message', async (t) => {
  const suffix = "unable to parse quantity's suffix"
  const cases: Array<[string, string]> = [
    ['', QUANTITY_FORMAT_MESSAGE],
    ['abc', QUANTITY_FORMAT_MESSAGE],
    ['1 Gi', QUANTITY_FORMAT_MESSAGE],
    ['1.2.3', QUANTITY_FORMAT_MESSAGE],
    ['1Gi ', QUANTITY_FORMAT_MESSAGE],
    ['1K', suffix],
    ['1e', suffix],
    ['1m3', suffix],
    ['1Mi3', suffix],
    ['1ki', suffix],
    ['--1', suffix],
  ]
  t.equal(QUANTITY_FORMAT_MESSAGE, "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
  for (const [text, message] of cases) {
    t.throws(() => parseQuantity(text), new InvalidQuantityError(message), JSON.stringify(text))
    t.notOk(isQuantity(text), JSON.stringify(text))
  }
  t.throws(() => parseQuantity('1e100000'), { name: 'InvalidQuantityError', message: /exponent/ }, 'no giant BigInts')
  t.ok(isQuantity('500Mi'))
})

t.test('comparison and arithmetic are exact', async (t) => {
  const cases: Array<[string, string, -1 | 0 | 1]> = [
    ['1', '1000m', 0],
    ['1Gi', '1024Mi', 0],
    ['1G', '1Gi', -1],
    ['0.1', '100m', 0],
    ['1e3', '1k', 0],
    ['-1', '0', -1],
    ['129e6', '123Mi', 1],
  ]
  for (const [a, b, expected] of cases) {
    t.equal(parseQuantity(a).compare(parseQuantity(b)), expected, `${a} vs ${b}`)
    t.equal(parseQuantity(b).compare(parseQuantity(a)), -expected, `${b} vs ${a}`)
    t.equal(parseQuantity(a).equals(parseQuantity(b)), expected === 0)
  }
  // 0.1 + 0.2 is exactly 0.3, unlike floating point.
  const sum = parseQuantity('0.1').add(parseQuantity('0.2'))
  t.equal(sum.toString(), '300m')
  t.ok(sum.equals(parseQuantity('0.3')))
  t.equal(parseQuantity('1Gi').subtract(parseQuantity('512Mi')).toString(), '512Mi')
  t.equal(Quantity.fromMilli(1500).toString(), '1500m')
  t.equal(Quantity.fromUnits(2048, 'BinarySI').toString(), '2Ki')
  t.equal(Quantity.parse('3').value(), 3n)
  t.ok(parseQuantity('0Mi').isZero())
})
