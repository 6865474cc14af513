// How the engine's changes reach the disk: group commits (CommitQueue) under the watch of
// the StorageGuard. A change someone waits for (a start, an approval) resolves with what
// the caller is answered; a change nobody waits for (a step's result, an approval timeout,
// a resumed run) is made again later if the database refuses it. Either way a refused
// change has already been taken back from memory.
import type { Logger } from '../core/log.js';
import type { OutboxStore } from '../store/outbox.js';
import type { LedgerEntry, RunStore } from '../store/run-store.js';
import type { Clock } from '../core/clock.js';
import { CommitError, CommitQueue } from './commit-queue.js';
import { Tx } from './run-state.js';
import { StorageGuard, type StorageStatus } from './storage-guard.js';
import type { StorageUnavailable } from './types.js';
import { isoTime } from '../core/time.js';

export class Writes {
  private readonly queue: CommitQueue;
  private readonly guard: StorageGuard;

  constructor(
    private readonly store: RunStore,
    private readonly clock: Clock,
    logger: Logger,
    outbox: OutboxStore | null = null,
  ) {
    this.guard = new StorageGuard({ clock, logger: logger.child('store'), probe: (detail) => this.probe(detail) });
    this.queue = new CommitQueue(store, logger, (err) => this.guard.failed(err), outbox);
  }

  /** Requests may change state: false while the gateway is degraded. */
  get available(): boolean {
    return this.guard.available;
  }

  /** What a request is answered while the gateway is degraded. */
  refused(): StorageUnavailable {
    return this.guard.refusal();
  }

  status(): StorageStatus {
    return this.guard.status();
  }

  /** Transactions written, for /metrics. */
  get written(): number {
    return this.queue.written;
  }

  /** Changes queued or written but not yet durable, and how often that backlog was full. */
  backlog(): { size: number; fills: number } {
    const { size, fills } = this.queue.backlog;
    return { size, fills };
  }

  /** Calls `go` now, or once the backlog has drained if it is full (WriteBacklog). */
  whenCaughtUp(go: () => void): void {
    this.queue.backlog.whenCaughtUp(go);
  }

  /** A change a caller waits for: resolves with `value` once it is durable, or with why it is not. */
  request<T>(tx: Tx, value: T): Promise<T | StorageUnavailable> {
    return this.queue.commit(tx).then(
      () => value,
      (err: unknown) => this.guard.refusal(err),
    );
  }

  /**
   * A change nobody waits for: made and written now or, while the database cannot be
   * written, kept and made again once it can. `change` checks that it still applies each
   * time it is made, and alters nothing when it does not.
   */
  background(change: (tx: Tx) => void): void {
    if (!this.guard.writable) {
      this.guard.keep(() => this.background(change));
      return;
    }
    const tx = new Tx();
    change(tx);
    if (tx.empty) return;
    tx.onFailure((err) => {
      // Taken back from memory, so made again later; a change SQLite has (its fdatasync failed) is not.
      if (!(err instanceof CommitError && err.written)) this.guard.keep(() => this.background(change));
    });
    this.queue.write(tx);
  }

  /** A refused start's ledger row, written at once when the database takes it, else counted as lost. */
  refusalRow(entry: LedgerEntry): void {
    if (!this.guard.available) {
      this.guard.lost(1);
      return;
    }
    try {
      this.store.appendLedger(entry);
    } catch (err) {
      this.guard.failed(err);
      this.guard.lost(1);
    }
  }

  /** Keeps changes from being written until the returned function is called (CommitQueue.hold). */
  hold(): () => void {
    return this.queue.hold();
  }

  /** Writes every queued change now. */
  flush(): void {
    this.queue.flush();
  }

  /** No more retries: what is kept is lost, and a restart resumes from the disk. */
  stop(): void {
    this.guard.stop();
  }

  /** The guard's retry: a ledger row saying how long writes failed, in the kept changes' transaction. */
  private probe(detail: string): Promise<void> {
    const tx = new Tx();
    tx.ledger.push({ at: isoTime(this.clock.now()), kind: 'storage_restored', sop_name: null, run_id: null, step_number: null, actor: 'engine', detail });
    return this.queue.commit(tx);
  }
}
