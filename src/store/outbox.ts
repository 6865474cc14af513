// The upstream outbox: run events waiting for the upstream broker. The engine's commit
// appends them inside the transaction of the change they announce, so a crash, a power cut
// or a broker that is away loses none and a refused change leaves none; the publisher reads
// them in order once they are durable and deletes each one the broker acknowledged. Bounded:
// beyond `maxMessages` the oldest go, counted.
import type { Db } from './db.js';

export interface OutboxRow {
  id: number;
  /** Below <prefix>/<gateway_id>/: `runs/<run_id>/<event>`. */
  topic: string;
  payload: string;
}

export class OutboxStore {
  /** Rows dropped to keep the bound since start (sopgate_upstream_dropped_total). */
  dropped = 0;
  private rows: number;
  /**
   * The last id handed out. Ids are handed out here, in order, and never go back while the
   * process runs (SQLite's own would restart at 1 once the table is empty), so the
   * publisher's cursor never passes over a row.
   */
  private lastId: number;
  /** The last id of a committed transaction: where a refused one leaves lastId. */
  private committedId: number;
  private droppedInTx = 0;
  /** Rows up to this id are on disk: the publisher may send them. */
  private durableUpTo: number;
  private readonly waiting = new Set<() => void>();
  /** Its statements, prepared once. */
  private readonly sql;
  private readonly removeAll: (ids: readonly number[]) => number;

  constructor(
    db: Db,
    private readonly maxMessages: number,
  ) {
    const p = (sql: string) => db.prepare(sql);
    this.sql = {
      insert: p('INSERT INTO outbox (id, topic, payload) VALUES (?, ?, ?)'),
      count: p('SELECT count(*) FROM outbox').pluck(),
      maxId: p('SELECT coalesce(max(id), 0) FROM outbox').pluck(),
      dropOldest: p('DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)'),
      next: p('SELECT id, topic, payload FROM outbox WHERE id > ? AND id <= ? ORDER BY id LIMIT ?'),
      remove: p('DELETE FROM outbox WHERE id = ?'),
    };
    this.removeAll = db.transaction((ids: readonly number[]) => {
      let gone = 0;
      for (const id of ids) gone += this.sql.remove.run(id).changes;
      return gone;
    });
    this.rows = this.sql.count.get() as number;
    this.lastId = this.committedId = this.durableUpTo = this.sql.maxId.get() as number;
  }

  /** Messages waiting (sopgate_upstream_outbox_messages). */
  get size(): number {
    return this.rows;
  }

  /** Inside the commit's transaction: one run event. */
  append(topic: string, payload: string): void {
    this.sql.insert.run(++this.lastId, topic, payload);
    this.rows++;
  }

  /** Inside the commit's transaction, after its appends: the oldest beyond the bound go. */
  bound(): void {
    if (this.rows <= this.maxMessages) return;
    const gone = this.sql.dropOldest.run(this.rows - this.maxMessages).changes;
    this.rows -= gone;
    this.droppedInTx += gone;
  }

  /** The transaction committed; returns the mark to hand to `durable` once it is on disk. */
  committed(): number {
    this.committedId = this.lastId;
    this.dropped += this.droppedInTx;
    this.droppedInTx = 0;
    return this.lastId;
  }

  /** The transaction was refused: none of its rows exist. */
  rolledBack(): void {
    this.lastId = this.committedId;
    this.droppedInTx = 0;
    this.rows = this.sql.count.get() as number;
  }

  /** Everything committed up to `mark` is on disk: wakes the publisher. */
  durable(mark: number): void {
    if (mark <= this.durableUpTo) return;
    this.durableUpTo = mark;
    for (const wake of this.waiting) wake();
  }

  /** Calls `wake` whenever more rows become durable; returns the function that stops it. */
  onDurable(wake: () => void): () => void {
    this.waiting.add(wake);
    return () => this.waiting.delete(wake);
  }

  /** Up to `limit` durable rows after id `after`, oldest first. */
  next(after: number, limit: number): OutboxRow[] {
    return this.sql.next.all(after, this.durableUpTo, limit) as OutboxRow[];
  }

  /** Deletes rows the broker acknowledged, in one transaction; throws if the database refuses. */
  remove(ids: readonly number[]): void {
    this.rows -= this.removeAll(ids);
  }
}
