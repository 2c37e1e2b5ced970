// Goal: CronJob schedules parse as Kubernetes' cron parser (robfig/cron ParseStandard) parses
// them — same accepted syntax, same error messages — and the next activation is computed right.
// Method: parse tables, error tables, and next-time checks against hand-worked UTC calendars.
import t from 'tap'
import { CronParseError, cronScheduleError, nextCronTimeMs, parseCronSchedule } from '../../../node/src/api/server/kinds/cron.ts'

const sorted = (values: ReadonlySet<number>): number[] => [...values].sort((a, b) => a - b)

t.test('fields: stars, lists, ranges, steps and names', async (t) => {
  const schedule = parseCronSchedule('*/20 9-17/4 1,15 jan-mar MON-fri')
  t.same(sorted(schedule.minutes), [0, 20, 40])
  t.same(sorted(schedule.hours), [9, 13, 17])
  t.same(sorted(schedule.daysOfMonth), [1, 15])
  t.same(sorted(schedule.months), [1, 2, 3])
  t.same(sorted(schedule.daysOfWeek), [1, 2, 3, 4, 5])
  t.equal(schedule.dayFieldStar, false)
  t.same(sorted(parseCronSchedule('5/15 * * * *').minutes), [5, 20, 35, 50], 'N/step runs from N to the maximum')
  t.same(sorted(parseCronSchedule('0 0 ? * *').daysOfMonth).length, 31, '? is a star')
  t.equal(parseCronSchedule('0 0 * * 1').dayFieldStar, true)
  t.same(sorted(parseCronSchedule('  0   12  *  *  *  ').hours), [12], 'any whitespace separates fields')
})

t.test('descriptors expand to their five-field schedules', async (t) => {
  const same = (descriptor: string, fields: string): void => {
    const a = parseCronSchedule(descriptor)
    const b = parseCronSchedule(fields)
    t.same([a.minutes, a.hours, a.daysOfMonth, a.months, a.daysOfWeek].map(sorted), [b.minutes, b.hours, b.daysOfMonth, b.months, b.daysOfWeek].map(sorted), descriptor)
  }
  same('@yearly', '0 0 1 1 *')
  same('@annually', '0 0 1 1 *')
  same('@monthly', '0 0 1 * *')
  same('@weekly', '0 0 * * 0')
  same('@daily', '0 0 * * *')
  same('@midnight', '0 0 * * *')
  same('@hourly', '0 * * * *')
  t.equal(parseCronSchedule('@every 1h30m').everyMs, 90 * 60_000)
  t.equal(parseCronSchedule('@every 1500ms').everyMs, 1000, '@every rounds down to whole seconds')
  t.equal(parseCronSchedule('@every 10ms').everyMs, 1000, 'and never runs more than once a second')
})

t.test('errors carry robfig/cron messages', async (t) => {
  const cases: Array<[string, string]> = [
    ['', 'empty spec string'],
    ['* * * *', 'expected exactly 5 fields, found 4: [* * * *]'],
    ['* * * * * *', 'expected exactly 5 fields, found 6: [* * * * * *]'],
    ['60 * * * *', 'end of range (60) above maximum (59): 60'],
    ['* 24 * * *', 'end of range (24) above maximum (23): 24'],
    ['* * 0 * *', 'beginning of range (0) below minimum (1): 0'],
    ['* * * 13 *', 'end of range (13) above maximum (12): 13'],
    ['* * * * 7', 'end of range (7) above maximum (6): 7'],
    ['5-1 * * * *', 'beginning of range (5) beyond end of range (1): 5-1'],
    ['*/0 * * * *', 'step of range should be a positive number: */0'],
    ['1-2-3 * * * *', 'too many hyphens: 1-2-3'],
    ['*/2/3 * * * *', 'too many slashes: */2/3'],
    ['x * * * *', 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'],
    ['* * * smarch *', 'failed to parse int from smarch: strconv.Atoi: parsing "smarch": invalid syntax'],
    ['@fortnightly', 'unrecognized descriptor: @fortnightly'],
    ['@every 5', 'failed to parse duration @every 5: time: missing unit in duration "5"'],
    ['@every 5y', 'failed to parse duration @every 5y: time: unknown unit "y" in duration "5y"'],
    ['TZ=Nowhere/Land * * * * *', 'provided bad location Nowhere/Land: unknown time zone Nowhere/Land'],
  ]
  for (const [text, message] of cases) t.equal(cronScheduleError(text), message, JSON.stringify(text))
  t.throws(() => parseCronSchedule('nonsense'), CronParseError)
  t.equal(cronScheduleError('0 0 * * *'), undefined)
  t.equal(parseCronSchedule('CRON_TZ=Asia/Tokyo 0 9 * * *').timeZone, 'Asia/Tokyo')
})

t.test('the next activation in UTC', async (t) => {
  const next = (schedule: string, after: string): string | undefined => {
    const ms = nextCronTimeMs(parseCronSchedule(schedule), Date.parse(after))
    return ms === undefined ? undefined : new Date(ms).toISOString()
  }
  t.equal(next('*/15 * * * *', '2024-01-01T00:00:30Z'), '2024-01-01T00:15:00.000Z')
  t.equal(next('*/15 * * * *', '2024-01-01T00:15:00Z'), '2024-01-01T00:30:00.000Z', 'strictly after')
  t.equal(next('30 2 * * *', '2024-03-10T03:00:00Z'), '2024-03-11T02:30:00.000Z')
  t.equal(next('0 0 1 * *', '2024-01-31T12:00:00Z'), '2024-02-01T00:00:00.000Z')
  t.equal(next('@yearly', '2024-06-01T00:00:00Z'), '2025-01-01T00:00:00.000Z')
  // 2024-09-13 is a Friday: with both day fields restricted, either one matching is enough.
  t.equal(next('0 0 13 * 5', '2024-09-01T00:00:00Z'), '2024-09-06T00:00:00.000Z', 'the first Friday comes before the 13th')
  t.equal(next('0 0 * * 5', '2024-09-07T00:00:00Z'), '2024-09-13T00:00:00.000Z', 'with a star day-of-month only Fridays match')
  t.equal(next('0 0 29 2 *', '2023-03-01T00:00:00Z'), '2024-02-29T00:00:00.000Z', 'leap days')
  t.equal(next('0 0 30 2 *', '2024-01-01T00:00:00Z'), undefined, 'a date that never exists')
  t.equal(next('@every 90s', '2024-01-01T00:00:00.400Z'), '2024-01-01T00:01:30.000Z')
})
