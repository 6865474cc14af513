// The cron source's narrow view of SQLite: when each schedule last fired, so that a
// restart can tell which fires it missed (`[cron] catch_up`). Keyed by the normalised
// expression (cronKey), the same key the matcher uses.
import type { Db } from './db.js';

export class CronStateStore {
  /** Its statements, prepared once. */
  private readonly sql;

  constructor(db: Db) {
    this.sql = {
      get: db.prepare<[string], { last_fire_ms: number }>(`SELECT last_fire_ms FROM cron_state WHERE schedule = ?`),
      set: db.prepare<[string, number]>(
        `INSERT INTO cron_state (schedule, last_fire_ms) VALUES (?, ?)
         ON CONFLICT(schedule) DO UPDATE SET last_fire_ms = excluded.last_fire_ms`,
      ),
      all: db.prepare<[], { schedule: string; last_fire_ms: number }>(`SELECT schedule, last_fire_ms FROM cron_state`),
    };
  }

  /** When `schedule` last fired (ms since the epoch), or null if it never has. */
  lastFire(schedule: string): number | null {
    return this.sql.get.get(schedule)?.last_fire_ms ?? null;
  }

  setLastFire(schedule: string, ms: number): void {
    this.sql.set.run(schedule, ms);
  }

  all(): Map<string, number> {
    return new Map(this.sql.all.all().map((row) => [row.schedule, row.last_fire_ms] as const));
  }
}
