// Group commit: every state change queued in one turn of the event loop is written in one
// SQLite transaction; only once it is durable are callers answered and effects run, so
// nothing is told before that. With synchronous=FULL the store's WalSync fdatasyncs off the
// event loop, one fdatasync for every commit made while the previous one was in flight.
// A transaction the database refuses (a full disk) is taken back from memory, every change
// in it newest first, so that memory is again exactly what is on disk.
import type { Logger } from '../core/log.js';
import type { OutboxStore } from '../store/outbox.js';
import type { RunStore } from '../store/run-store.js';
import { writeOutbox } from './outbox.js';
import type { Tx } from './run-state.js';
import { errorMessage } from '../core/errors.js';
import { WriteBacklog } from './backlog.js';

/**
 * Written transactions still waiting for the disk beyond which the queue syncs on the
 * event loop (WalSync.now): whatever did not wait for the backlog then waits in the
 * sockets, not in memory.
 */
const MAX_UNSYNCED = 1_000;
/**
 * Transactions not yet durable at which the backlog is full, and to which it must drain
 * before those who wait for it go on: a few hundred runs in memory, and room for the
 * commits made while an fdatasync is in flight.
 */
const BACKLOG_HIGH = 512;
const BACKLOG_LOW = 256;

/** Why a change was not confirmed. */
export class CommitError extends Error {
  constructor(
    cause: unknown,
    /**
     * False: the database refused it; nothing was written and memory was put back.
     * True: SQLite has it but its fdatasync failed; memory keeps what SQLite has.
     */
    readonly written: boolean,
  ) {
    super(errorMessage(cause), { cause });
  }
}

/** Told once per batch the database refused or could not make durable (default: a log line). */
export type CommitFailure = (err: CommitError, changes: number) => void;

export class CommitQueue {
  private pending: Tx[] = [];
  private scheduled = false;
  /** Holds in force (hold()): the scheduled flush waits for the last to be released. */
  private holds = 0;
  private unsynced = 0;
  /** Transactions written (each holds every state change of one turn), for /metrics. */
  written = 0;
  /** Transactions queued or written but not yet durable. */
  readonly backlog = new WriteBacklog(BACKLOG_HIGH, BACKLOG_LOW);

  private readonly failed: CommitFailure;

  constructor(
    private readonly store: RunStore,
    log: Logger,
    failed?: CommitFailure,
    /** With an upstream: the run events each batch announces are written here, in its transaction. */
    private readonly outbox: OutboxStore | null = null,
  ) {
    this.failed =
      failed ??
      ((err, changes) =>
        log.log('error', `cannot ${err.written ? 'make' : 'write'} ${changes} state change(s) ${err.written ? 'durable' : 'to the database'}: ${err.message}`));
  }

  /** Queues a transaction; resolves once it is durable, rejects with a CommitError if it is not. */
  commit(tx: Tx): Promise<void> {
    this.write(tx);
    return new Promise((resolve, reject) => tx.after(resolve, reject));
  }

  /** Queues a transaction whose own effects and failure handlers (Tx.onFailure) say what follows. */
  write(tx: Tx): void {
    this.pending.push(tx);
    this.backlog.add(1);
    this.schedule();
  }

  /**
   * Keeps queued transactions unwritten until the returned function is called (the WAL
   * checkpointer restarts the log in the meantime). An explicit flush() still writes.
   */
  hold(): () => void {
    this.holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds--;
      this.schedule();
    };
  }

  private schedule(): void {
    if (this.scheduled || this.holds > 0 || this.pending.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.holds === 0) this.flush();
    });
  }

  /** Writes every queued transaction at once; runs their effects in order once that is durable. */
  flush(): void {
    const batch = this.pending;
    if (batch.length === 0) return;
    this.pending = [];
    // Nothing to write and nothing written still waiting for the disk: no transaction, no
    // fdatasync (a start that restored no run asked for both, on the way to ready).
    if (this.unsynced === 0 && batch.every((tx) => tx.empty)) {
      for (const tx of batch) tx.done();
      this.backlog.settle(batch.length);
      return;
    }
    const { store, outbox } = this;
    try {
      store.transaction(() => {
        for (const tx of batch) {
          for (const [hash, json] of tx.snapshots) store.putSnapshot(hash, json);
          for (const st of tx.created) store.insertRun(st.record);
          for (const st of tx.touched) if (!tx.created.includes(st)) store.updateRun(st.record);
          for (const [runId, result] of tx.results) store.putStepResult(runId, result);
          for (const entry of tx.ledger) store.appendLedger(entry);
          for (const [name, ms] of tx.cooldowns) store.setLastFinished(name, ms);
          store.runsFinished(tx.finished);
        }
        if (outbox !== null) writeOutbox(outbox, batch);
      });
      this.written++;
    } catch (err) {
      outbox?.rolledBack();
      // The database refused (disk full, I/O error): nothing was written and nobody is told
      // the change happened. Later changes were made on top of earlier ones: newest back first.
      for (let i = batch.length - 1; i >= 0; i--) batch[i]!.rollback();
      const error = new CommitError(err, false);
      this.failed(error, batch.length);
      for (const tx of batch) tx.fail(error);
      this.backlog.settle(batch.length);
      return;
    }
    const mark = outbox?.committed() ?? 0;
    const sync = this.store.sync;
    if (sync === null) {
      for (const tx of batch) tx.done();
      outbox?.durable(mark);
      this.backlog.settle(batch.length);
      return;
    }
    this.unsynced += batch.length;
    sync.afterDurable((err) => {
      this.unsynced -= batch.length;
      if (err === null) {
        for (const tx of batch) tx.done();
        outbox?.durable(mark);
      } else {
        // Written but perhaps not on disk: as with a failed COMMIT, nobody is told. SQLite has
        // the change (later ones build on it), so memory keeps it.
        const error = new CommitError(err, true);
        for (const tx of batch) tx.confirmed();
        this.failed(error, batch.length);
        for (const tx of batch) tx.fail(error);
      }
      this.backlog.settle(batch.length);
    });
    if (this.unsynced > MAX_UNSYNCED) sync.now();
  }
}
