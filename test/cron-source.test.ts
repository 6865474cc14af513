// The cron source on a mock clock and a real SQLite file: weekday numbering, an
// expression several SOPs share, catch-up once.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ManualClock } from './helpers/clock.js';
import type { Clock } from '../src/core/clock.js';
import type { GatewayEvent } from '../src/core/events.js';
import { memoryLogger } from './helpers/logger.js';
import { Matcher } from '../src/match/matcher.js';
import type { SopDefinition } from '../src/sop/types.js';
import { CronSource, type CatchUp } from '../src/sources/cron.js';
import { CronStateStore } from '../src/store/cron-state.js';
import { openDatabase, type Db } from '../src/store/db.js';
import { sop as definition } from './helpers/engine.js';

const MONDAY = Date.UTC(2026, 0, 5); // 2026-01-05T00:00:00Z is a Monday
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

function sop(name: string, ...expressions: string[]): SopDefinition {
  return definition(name, { triggers: expressions.map((expression) => ({ type: 'cron' as const, expression })), steps: [] });
}

/** ManualClock fires each timer at its own time; this one can also stall, as a blocked event loop does. */
class StallingClock extends ManualClock {
  last: (() => void) | null = null;
  /** Moves time on without running anything, then runs every due timer late, at the new time. */
  stall(ms: number): void {
    this.time += ms;
    for (const [id, t] of [...this.timers].sort((a, b) => a[1].at - b[1].at)) {
      if (t.at > this.time || !this.timers.delete(id)) continue;
      this.last = t.fn;
      t.fn();
    }
  }
  /** Runs every pending timer now, before it is due. */
  fireEarly(): void {
    for (const [id, t] of [...this.timers]) if (this.timers.delete(id)) t.fn();
  }
}

let dir: string;
let n = 0;
// Not helpers/workspace.ts: it pulls in the whole CLI.
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'sopgate-cron-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function harness(sops: SopDefinition[], options: { clock?: Clock; catchUp?: CatchUp; timezone?: string; db?: Db } = {}) {
  const db = options.db ?? openDatabase(`${dir}/cron-${++n}.db`);
  const state = new CronStateStore(db);
  const clock = options.clock ?? new ManualClock(MONDAY);
  const events: GatewayEvent[] = [];
  const logger = memoryLogger();
  const make = (catchUp: CatchUp = options.catchUp ?? 'skip') =>
    new CronSource({ sops, timezone: options.timezone ?? 'UTC', clock, state, catchUp, logger, onEvent: (e) => events.push(e) });
  const source = make();
  return { db, state, clock, events, logger, source, make, times: () => events.map((e) => e.timestamp) };
}

describe('CronStateStore', () => {
  test('stores, overwrites and lists last fires', () => {
    const state = new CronStateStore(openDatabase(`${dir}/state.db`));
    assert.equal(state.lastFire('0 9 * * *'), null);
    state.setLastFire('0 9 * * *', 1000);
    state.setLastFire('0 9 * * *', 2000);
    state.setLastFire('* * * * * *', 5);
    assert.equal(state.lastFire('0 9 * * *'), 2000);
    assert.deepEqual(state.all(), new Map([['0 9 * * *', 2000], ['* * * * * *', 5]]));
  });
});

describe('CronSource', () => {
  test('1-5 fires Monday to Friday at 09:00 UTC, never on the weekend', () => {
    const h = harness([sop('weekdays', '0 9 * * 1-5')]);
    h.source.start();
    (h.clock as ManualClock).advance(7 * DAY);
    assert.deepEqual(h.times(), [5, 6, 7, 8, 9].map((d) => `2026-01-0${d}T09:00:00.000Z`));
    assert.deepEqual(h.events[0], { source: 'cron', topic: '0 9 * * 1-5', timestamp: '2026-01-05T09:00:00.000Z' });
    h.source.stop();
  });

  test('0 and 7 are both Sunday', () => {
    const h = harness([sop('zero', '0 9 * * 0'), sop('seven', '0 9 * * 7')]);
    h.source.start();
    (h.clock as ManualClock).advance(14 * DAY);
    for (const topic of ['0 9 * * 0', '0 9 * * 7']) {
      const times = h.events.filter((e) => e.topic === topic).map((e) => e.timestamp);
      assert.deepEqual(times, ['2026-01-11T09:00:00.000Z', '2026-01-18T09:00:00.000Z'], topic);
    }
    h.source.stop();
  });

  test('day of month and weekday are OR-ed, as in crontab', () => {
    const h = harness([sop('friday-or-13th', '0 9 13 * 5')]);
    h.source.start();
    (h.clock as ManualClock).advance(27 * DAY);
    assert.deepEqual(h.times(), ['09', '13', '16', '23', '30'].map((d) => `2026-01-${d}T09:00:00.000Z`));
    h.source.stop();
  });

  test('a 6-field expression counts seconds', () => {
    const h = harness([sop('quarter', '*/15 * * * * *'), sop('late', '30 0 9 * * *')]);
    h.source.start();
    (h.clock as ManualClock).advance(MIN);
    assert.deepEqual(h.events.filter((e) => e.topic === '*/15 * * * * *').map((e) => e.timestamp.slice(14, 19)), ['00:15', '00:30', '00:45', '01:00']);
    (h.clock as ManualClock).advance(9 * HOUR);
    assert.deepEqual(h.events.filter((e) => e.topic === '30 0 9 * * *').map((e) => e.timestamp), ['2026-01-05T09:00:30.000Z']);
    h.source.stop();
  });

  test('Europe/Berlin 09:00 is 08:00 UTC in winter and 07:00 UTC in summer', () => {
    for (const [start, expected] of [[MONDAY, '2026-01-05T08:00:00.000Z'], [Date.UTC(2026, 6, 6), '2026-07-06T07:00:00.000Z']] as const) {
      const h = harness([sop('berlin', '0 9 * * *')], { clock: new ManualClock(start), timezone: 'Europe/Berlin' });
      h.source.start();
      assert.equal(h.source.schedules()[0]?.next, expected);
      (h.clock as ManualClock).advance(DAY - 1);
      assert.deepEqual(h.times(), [expected]);
      h.source.stop();
    }
  });

  test('two SOPs sharing an expression: one event per fire, each SOP matched once', () => {
    const sops = [sop('a', '0 9 * * *'), sop('b', '  0  9 * * *'), sop('c', '0 10 * * *')];
    const h = harness(sops);
    h.source.start();
    assert.deepEqual(h.source.schedules(), [
      { expression: '0 9 * * *', next: '2026-01-05T09:00:00.000Z', sops: ['a', 'b'] },
      { expression: '0 10 * * *', next: '2026-01-05T10:00:00.000Z', sops: ['c'] },
    ]);
    (h.clock as ManualClock).advance(9 * HOUR + MIN);
    assert.equal(h.events.length, 1);
    assert.deepEqual(Matcher.build(sops).match(h.events[0]!), ['a', 'b']);
    h.source.stop();
  });

  test('a stalled loop fires once, for the latest scheduled time', () => {
    const clock = new StallingClock(MONDAY + 30 * MIN);
    const h = harness([sop('hourly', '0 * * * *')], { clock });
    h.source.start();
    clock.stall(3 * HOUR); // 01:00, 02:00 and 03:00 all passed while blocked
    assert.deepEqual(h.times(), ['2026-01-05T03:00:00.000Z']);
    assert.ok(h.logger.lines.some((l) => l.startsWith('warn') && l.includes('firing once for 2026-01-05T03:00')));
    clock.stall(HOUR);
    assert.deepEqual(h.times(), ['2026-01-05T03:00:00.000Z', '2026-01-05T04:00:00.000Z']);
    h.source.stop();
  });

  test('an early or repeated timer never fires a scheduled time twice', () => {
    const clock = new StallingClock(MONDAY + 59 * MIN);
    const h = harness([sop('hourly', '0 * * * *')], { clock });
    h.source.start();
    clock.fireEarly();
    assert.equal(h.events.length, 0);
    clock.stall(MIN);
    assert.deepEqual(h.times(), ['2026-01-05T01:00:00.000Z']);
    clock.last?.(); // the same timer callback again
    clock.fireEarly();
    clock.stall(30 * MIN);
    assert.equal(h.events.length, 1);
    assert.equal(clock.pending, 1); // the stale callbacks did not fork a second timer
    clock.stall(30 * MIN);
    assert.equal(h.events.length, 2);
    h.source.stop();
    assert.equal(clock.pending, 0);
  });

  test('a month-long wait (re-armed in short sleeps) fires on time, once', () => {
    const h = harness([sop('monthly', '0 0 1 * *')]);
    h.source.start();
    (h.clock as ManualClock).advance(MIN + 1);
    assert.equal(h.events.length, 0);
    (h.clock as ManualClock).advance(40 * DAY);
    assert.deepEqual(h.times(), ['2026-02-01T00:00:00.000Z']);
    h.source.stop();
  });

  test('catch-up once: one event for the latest fire missed while down; skip: none', () => {
    for (const catchUp of ['once', 'skip'] as const) {
      const file = `${dir}/catchup-${catchUp}.db`;
      const first = harness([sop('daily', '0 9 * * *')], { db: openDatabase(file) });
      first.source.start();
      (first.clock as ManualClock).advance(9 * HOUR + 30 * MIN);
      assert.deepEqual(first.times(), ['2026-01-05T09:00:00.000Z']);
      first.source.stop();
      first.db.close();
      (first.clock as ManualClock).advance(3 * DAY); // down over Tue, Wed and Thu 09:00

      const second = harness([sop('daily', '0 9 * * *'), sop('fresh', '0 8 * * *')], { db: openDatabase(file), clock: first.clock, catchUp });
      second.source.start();
      const expected = catchUp === 'once' ? ['2026-01-08T09:00:00.000Z'] : [];
      assert.deepEqual(second.times(), expected, catchUp);
      assert.ok(second.logger.lines.some((l) => l.includes('3 fire(s) missed')), second.logger.lines.join('\n'));
      (second.clock as ManualClock).advance(DAY);
      assert.deepEqual(second.times(), [...expected, '2026-01-09T08:00:00.000Z', '2026-01-09T09:00:00.000Z']);
      second.source.stop();
    }
  });

  test('update() replaces the schedules and keeps the stored last fires', () => {
    const h = harness([sop('a', '0 9 * * *'), sop('b', '0 10 * * *')]);
    h.source.start();
    (h.clock as ManualClock).advance(11 * HOUR);
    h.source.update([sop('b', '0 10 * * *'), sop('c', '0 12 * * *'), sop('d', '0 10 * * *')]);
    assert.deepEqual(h.source.schedules().map((s) => [s.expression, s.sops]), [['0 10 * * *', ['b', 'd']], ['0 12 * * *', ['c']]]);
    (h.clock as ManualClock).advance(DAY);
    assert.deepEqual(h.events.map((e) => `${e.topic}@${e.timestamp.slice(8, 13)}`), [
      '0 9 * * *@05T09', '0 10 * * *@05T10', '0 12 * * *@05T12', '0 10 * * *@06T10',
    ]);
    assert.deepEqual([...h.state.all().keys()].sort(), ['0 10 * * *', '0 12 * * *', '0 9 * * *']);
    assert.equal((h.clock as ManualClock).pending, 2);
    h.source.stop();
  });

  test('stop() leaves no timer pending; before start, schedules() lists with no next', () => {
    const h = harness([sop('a', '0 9 * * *'), sop('b', '*/5 * * * * *')]);
    assert.deepEqual(h.source.schedules(), [
      { expression: '0 9 * * *', next: null, sops: ['a'] },
      { expression: '*/5 * * * * *', next: null, sops: ['b'] },
    ]);
    h.source.start();
    assert.equal((h.clock as ManualClock).pending, 2);
    h.source.stop();
    assert.equal((h.clock as ManualClock).pending, 0);
    (h.clock as ManualClock).advance(DAY);
    assert.equal(h.events.length, 0);
  });

  test('a failing onEvent is logged and the schedule carries on; an invalid expression is logged and left out', () => {
    const clock = new ManualClock(MONDAY);
    const logger = memoryLogger();
    let calls = 0;
    const source = new CronSource({
      sops: [sop('daily', '0 9 * * *'), sop('broken', '0 9 * *')], timezone: 'UTC', clock, logger, catchUp: 'skip',
      state: new CronStateStore(openDatabase(`${dir}/failing.db`)),
      onEvent: () => {
        calls++;
        throw new Error('engine exploded');
      },
    });
    source.start();
    clock.advance(3 * DAY);
    assert.equal(calls, 3);
    assert.equal(logger.lines.filter((l) => l.startsWith('error') && l.includes('engine exploded')).length, 3);
    assert.ok(logger.lines.some((l) => l.startsWith('error') && l.includes('"0 9 * *" has 4 fields')));
    assert.deepEqual(source.schedules()[1], { expression: '0 9 * *', next: null, sops: ['broken'] });
    source.stop();
  });
});
