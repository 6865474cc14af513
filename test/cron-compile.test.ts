import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Cron } from 'croner';
import fc from 'fast-check';
import { compileCron, cronPattern } from '../src/expressions/cron.js';

const EXPRESSIONS = [
  '*/5 * * * *',
  '0 3 * * 1-5',
  '30 8 1,15 * 0',
  '0 0 29 2 *',
  '15 10 L * *',
  '0 12 * * 5L',
  '*/20 * * * * *',
  '0 0 9 * * 7',
  '0 0 12 1 1 * 2031',
  '0 30 6 * * 1 2030-2032',
  '@hourly',
  '@weekly',
];

/** What croner itself says, with compileCron's options and nothing dropped. */
function reference(expression: string, timezone: string): Cron {
  const pattern = cronPattern(expression);
  assert.ok(pattern.ok);
  return new Cron(pattern.pattern, {
    paused: true,
    ...(timezone === 'UTC' ? { utcOffset: 0 } : { timezone }),
    mode: pattern.pattern.startsWith('@') ? 'auto' : '6-or-7-parts',
  });
}

describe('compileCron', () => {
  test('the jobs it keeps fire exactly when croner says, forwards and backwards', () => {
    const from = new Date('2026-11-26T12:00:00Z');
    fc.assert(
      fc.property(
        fc.constantFrom(...EXPRESSIONS),
        fc.constantFrom('UTC', 'Europe/Berlin', 'America/New_York'),
        fc.integer({ min: 0, max: 4 * 365 * 24 * 3600 }),
        (expression, timezone, offsetSecs) => {
          const compiled = compileCron(expression, timezone, from);
          assert.ok(compiled.ok, expression);
          const ours = compiled.cron;
          const theirs = reference(expression, timezone);
          const at = new Date(from.getTime() + offsetSecs * 1000);
          const times = (xs: Date[]) => xs.map((d) => d.toISOString());
          assert.deepEqual(times(ours.nextRuns(4, at)), times(theirs.nextRuns(4, at)), `${expression} next from ${at.toISOString()}`);
          assert.deepEqual(times(ours.previousRuns(2, at)), times(theirs.previousRuns(2, at)), `${expression} previous from ${at.toISOString()}`);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('an expression whose years have all passed never fires', () => {
    const compiled = compileCron('0 0 12 1 1 * 2020', 'UTC', new Date('2026-11-26T12:00:00Z'));
    assert.deepEqual(compiled, { ok: false, error: 'cron expression "0 0 12 1 1 * 2020" never fires' });
  });
});
