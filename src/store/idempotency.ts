// Webhook idempotency keys (docs/http-api.md): the first accepted answer per webhook path and
// key, kept in SQLite with an expiry so that a delivery repeated after a restart is still a
// duplicate. A key is scoped to its path: the same key on another path is another delivery.
import type { Clock } from '../core/clock.js';
import { durable, type Db } from './db.js';

export class IdempotencyStore {
  private readonly clock: Clock;
  private readonly db: Db;
  /** Its statements, prepared once. */
  private readonly sql;

  constructor(db: Db, clock: Clock) {
    this.clock = clock;
    this.db = db;
    this.sql = {
      get: db.prepare(`SELECT response FROM idempotency_keys WHERE path = ? AND key = ? AND expires_ms > ?`),
      put: db.prepare(`INSERT OR REPLACE INTO idempotency_keys (path, key, response, expires_ms) VALUES (?, ?, ?, ?)`),
      purge: db.prepare(`DELETE FROM idempotency_keys WHERE expires_ms <= ?`),
    };
  }

  /** The stored answer for `key` on `path`, or null when there is none or it expired. */
  get(path: string, key: string): unknown {
    const row = this.sql.get.get(path, key, this.clock.now()) as { response: string } | undefined;
    return row === undefined ? null : (JSON.parse(row.response) as unknown);
  }

  put(path: string, key: string, response: unknown, ttlSecs: number): void {
    this.sql.put.run(path, key, JSON.stringify(response), this.clock.now() + ttlSecs * 1000);
  }

  /** Resolves once the keys put so far are on disk. */
  durable(): Promise<void> {
    return durable(this.db);
  }

  /** Deletes expired keys; returns how many went. */
  purgeExpired(): number {
    return this.sql.purge.run(this.clock.now()).changes;
  }
}
