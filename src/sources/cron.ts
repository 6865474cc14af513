// The cron loop: turns schedules into `cron` events.
//
// One schedule per distinct expression (its cronKey), not per (SOP, expression): the
// event carries only the expression (an event names no SOP), and the matcher
// returns every SOP with that expression, each once. One schedule per SOP would emit
// one event per SOP and the matcher would start every sharer once per event: a
// double start. Per-expression scheduling plus the
// matcher's fan-out is what makes it exactly once per SOP per fire.
//
// Time comes only from the injected clock. croner only computes
// times (compileCron hands back a paused job); it never runs a timer of its own.
import type { Cron } from 'croner';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { GatewayEvent } from '../core/events.js';
import type { Logger } from '../core/log.js';
import { compileCron, cronKey } from '../expressions/cron.js';
import type { SopDefinition } from '../sop/types.js';
import type { CronStateStore } from '../store/cron-state.js';
import { errorMessage } from '../core/errors.js';
import { isoTime } from '../core/time.js';

export type CatchUp = 'skip' | 'once';

export interface CronSourceDeps {
  sops: readonly SopDefinition[];
  timezone: string;
  clock: Clock;
  state: CronStateStore;
  /** What to do at start with fires missed while the gateway was down (`[cron] catch_up`). */
  catchUp: CatchUp;
  logger: Logger;
  onEvent: (event: GatewayEvent) => void;
}

export interface CronScheduleInfo {
  /** The normalised expression (cronKey), as in the events' topic. */
  expression: string;
  /** The next fire (ISO-8601 UTC), or null: stopped, invalid, or never fires again. */
  next: string | null;
  sops: string[];
}

/**
 * The longest single sleep. The wall clock can jump (NTP on boards without an RTC) while
 * a timer counts monotonic time, so long waits wake to look at the clock again; this
 * also keeps every delay far below setTimeout's 2^31 ms limit.
 */
const MAX_SLEEP_MS = 60_000;
/** Counting missed fires stops here: a per-second schedule down for a week is 600,000 of them. */
const COUNT_LIMIT = 1000;

interface Schedule {
  readonly key: string;
  sops: string[];
  /** null: the expression does not compile (logged once); it never fires. */
  readonly cron: Cron | null;
  /** The latest scheduled time fired (ms); nothing at or before it fires again. */
  lastFire: number | null;
  /** The scheduled time the timer is heading for. */
  due: number | null;
  timer: TimerHandle | null;
  /** Counts armings, so a stale or repeated timer callback can tell it is stale. */
  armed: number;
}

export class CronSource {
  private readonly deps: CronSourceDeps;
  private readonly log: Logger;
  private sops: readonly SopDefinition[];
  private table = new Map<string, Schedule>();
  private running = false;

  constructor(deps: CronSourceDeps) {
    this.deps = deps;
    this.log = deps.logger;
    this.sops = deps.sops;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    for (const [key, names] of groupByExpression(this.sops)) this.table.set(key, this.create(key, names));
    for (const s of [...this.table.values()]) {
      if (s.cron === null) continue;
      this.guard(s, () => this.catchUp(s));
      // A catch-up's onEvent may have stopped us or reloaded.
      if (this.table.get(s.key) !== s) continue;
      this.guard(s, () => this.schedule(s));
    }
    this.log.log('info', `${this.table.size} schedule(s) in ${this.deps.timezone}, catch_up = "${this.deps.catchUp}"`);
  }

  stop(): void {
    this.running = false;
    for (const s of this.table.values()) this.drop(s);
    this.table.clear();
  }

  /** Reload: replaces the schedules. Kept expressions keep their timer; stored last fires stay. */
  update(sops: readonly SopDefinition[]): void {
    this.sops = sops;
    if (!this.running) return;
    const old = this.table;
    this.table = new Map();
    for (const [key, names] of groupByExpression(sops)) {
      const kept = old.get(key);
      if (kept !== undefined) {
        kept.sops = names;
        old.delete(key);
        this.table.set(key, kept);
      } else {
        const s = this.create(key, names);
        this.table.set(key, s);
        // New on reload: it was not missed while the gateway was down, so no catch-up.
        if (s.cron !== null) this.guard(s, () => this.schedule(s));
      }
    }
    for (const s of old.values()) this.drop(s);
  }

  /** For status output: one entry per distinct expression, in SOP order. */
  schedules(): CronScheduleInfo[] {
    if (!this.running) {
      return [...groupByExpression(this.sops)].map(([expression, sops]) => ({ expression, next: null, sops }));
    }
    return [...this.table.values()].map((s) => ({
      expression: s.key,
      next: s.due === null ? null : isoTime(s.due),
      sops: [...s.sops],
    }));
  }

  private create(key: string, names: string[]): Schedule {
    const compiled = compileCron(key, this.deps.timezone, new Date(this.deps.clock.now()));
    if (!compiled.ok) this.log.log('error', `${compiled.error}; not scheduled (SOPs: ${names.join(', ')})`);
    let lastFire: number | null = null;
    try {
      lastFire = this.deps.state.lastFire(key);
    } catch (err) {
      this.log.log('error', `"${key}": could not read its last fire: ${errorMessage(err)}`);
    }
    return { key, sops: names, cron: compiled.ok ? compiled.cron : null, lastFire, due: null, timer: null, armed: 0 };
  }

  /** Fires missed between the stored last fire and now: one event for the latest ('once') or none ('skip'). */
  private catchUp(s: Schedule): void {
    const last = s.lastFire;
    if (last === null || s.cron === null) return; // never fired before: nothing was missed
    const now = this.deps.clock.now();
    const latest = latestAtOrBefore(s.cron, now);
    if (latest === null || latest <= last) return;
    const missed = countBetween(s.cron, last, now);
    const since = `since its last fire at ${isoTime(last)}`;
    if (this.deps.catchUp === 'once') {
      this.log.log('info', `"${s.key}": ${missed} fire(s) missed ${since}; catching up once for ${isoTime(latest)}`);
      this.fire(s, latest);
    } else {
      this.log.log('info', `"${s.key}": skipped ${missed} fire(s) missed ${since} (catch_up = "skip")`);
    }
  }

  /** Picks the next scheduled time after both now and the last fire, and sleeps towards it. */
  private schedule(s: Schedule): void {
    if (s.cron === null) return;
    const from = Math.max(this.deps.clock.now(), s.lastFire ?? -Infinity);
    s.due = s.cron.nextRun(new Date(from))?.getTime() ?? null;
    if (s.due === null) this.log.log('info', `"${s.key}" will not fire again`);
    this.arm(s);
  }

  private arm(s: Schedule): void {
    if (s.due === null) {
      this.cancel(s);
      return;
    }
    const delay = Math.min(Math.max(0, s.due - this.deps.clock.now()), MAX_SLEEP_MS);
    this.sleep(s, delay, () => this.wake(s));
  }

  /**
   * Replaces the schedule's one timer. A callback that is not the latest armed, or runs a
   * second time, does nothing: a clock that fires a timer twice or late cannot fork the
   * schedule into two timers.
   */
  private sleep(s: Schedule, ms: number, fn: () => void): void {
    this.cancel(s);
    const armed = s.armed;
    s.timer = this.deps.clock.setTimer(ms, () => {
      if (s.armed !== armed) return;
      s.armed++;
      s.timer = null;
      this.guard(s, fn);
    });
  }

  private cancel(s: Schedule): void {
    s.timer?.cancel();
    s.timer = null;
    s.armed++;
  }

  private wake(s: Schedule): void {
    if (this.table.get(s.key) !== s || s.cron === null || s.due === null) return;
    const now = this.deps.clock.now();
    // A capped sleep, or a timer that fired early: keep heading for the same time.
    if (now < s.due) {
      this.arm(s);
      return;
    }
    // Woken late past several scheduled times: fire once, for the latest, not a burst.
    const latest = Math.max(latestAtOrBefore(s.cron, now) ?? s.due, s.due);
    if (latest > s.due) {
      this.log.log('warn', `"${s.key}": woke ${now - s.due} ms late (stalled loop or clock jump); firing once for ${isoTime(latest)}`);
    }
    if (s.lastFire === null || latest > s.lastFire) this.fire(s, latest);
    if (this.table.get(s.key) !== s) return; // onEvent stopped us or reloaded
    this.schedule(s);
  }

  /** Stores the fire first, so a crash right after cannot fire the same time again on restart. */
  private fire(s: Schedule, at: number): void {
    s.lastFire = at;
    try {
      this.deps.state.setLastFire(s.key, at);
    } catch (err) {
      this.log.log('error', `"${s.key}": could not store its last fire: ${errorMessage(err)}`);
    }
    this.log.log('debug', `"${s.key}" fired for ${isoTime(at)} (${s.sops.join(', ')})`);
    try {
      this.deps.onEvent({ source: 'cron', topic: s.key, timestamp: isoTime(at) });
    } catch (err) {
      this.log.log('error', `"${s.key}": handling the event for ${isoTime(at)} failed: ${errorMessage(err)}`);
    }
  }

  /** Every callback catches (errors never leave a timer); a schedule that failed tries again after a while. */
  private guard(s: Schedule, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.log('error', `"${s.key}": ${errorMessage(err)}; retrying in ${MAX_SLEEP_MS / 1000} s`);
      if (this.table.get(s.key) !== s) return;
      this.sleep(s, MAX_SLEEP_MS, () => (s.due === null ? this.schedule(s) : this.wake(s)));
    }
  }

  private drop(s: Schedule): void {
    this.cancel(s);
    s.cron?.stop();
  }
}

/** cronKey → names of the SOPs with that cron trigger, each once, in SOP order. */
function groupByExpression(sops: readonly SopDefinition[]): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const sop of sops) {
    for (const trigger of sop.triggers) {
      if (trigger.type !== 'cron') continue;
      const key = cronKey(trigger.expression);
      if (key === '') continue; // invalid, and never matched (matcher.ts)
      const names = map.get(key);
      if (names === undefined) map.set(key, [sop.name]);
      else if (!names.includes(sop.name)) names.push(sop.name);
    }
  }
  return map;
}

/** The latest scheduled time at or before `ms` (previousRuns excludes its reference). */
function latestAtOrBefore(cron: Cron, ms: number): number | null {
  return cron.previousRuns(1, new Date(ms + 1))[0]?.getTime() ?? null;
}

function countBetween(cron: Cron, after: number, until: number): string {
  let count = 0;
  for (let t = cron.nextRun(new Date(after)); t !== null && t.getTime() <= until; t = cron.nextRun(t)) {
    if (++count >= COUNT_LIMIT) return `at least ${COUNT_LIMIT}`;
  }
  return String(count);
}


