// SQLite's automatic WAL checkpoint runs inside a commit: every ~1000 pages one commit
// copies the log back into the database and fsyncs it, stalling the event loop (and the
// broker) while it copies. Instead the daemon turns the automatic checkpoint off and a
// worker thread with its own connection checkpoints PASSIVE-ly: it never blocks the writer.
// A worker is a whole Node environment (megabytes of RSS), so it starts only once the
// gateway is busy (`startWhenBusy`): a quiet gateway checkpoints rarely, a stall nobody
// notices at that rate. The figures are in docs/performance.md.
//
// The log restarts from its beginning only when a write begins while every frame in it is
// checkpointed. Under steady load a commit always lands while the worker copies, so the log
// never restarted and grew without bound, and every fdatasync of a growing file also
// commits its size to the file system's journal. So once the
// worker has caught up with a log of `restartFrames` or more, the daemon holds its commits
// (they wait in memory; the event loop and the broker go on), the worker copies the last
// frames, and the first commit after that restarts the log. `journal_size_limit` then cuts a
// log a burst grew back to RESTART_LIMIT_BYTES.
import { createRequire } from 'node:module';
import type { Worker } from 'node:worker_threads';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import type { Db } from './db.js';
import { errorMessage } from '../core/errors.js';

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.sqlite);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 1000');
db.pragma('synchronous = ' + workerData.synchronous);
// restart: 0 for the periodic checkpoint, else the number of the restart it answers.
const checkpoint = (restart) => {
  try {
    const [r] = db.pragma('wal_checkpoint(PASSIVE)');
    if (restart > 0 || (r && r.checkpointed > 0)) parentPort.postMessage({ log: r ? r.log : -1, checkpointed: r ? r.checkpointed : -1, restart });
  } catch (err) {
    parentPort.postMessage(String(err && err.message || err));
    if (restart > 0) parentPort.postMessage({ log: -1, checkpointed: -1, restart });
  }
};
setInterval(() => checkpoint(0), workerData.intervalMs);
parentPort.on('message', (m) => {
  if (typeof m === 'number') return checkpoint(m);
  checkpoint(0);
  db.close();
  parentPort.postMessage('closed');
});
`;

/** Frames a caught-up log must hold before the daemon restarts it (~16 MB of 4 KiB pages). */
export const RESTART_FRAMES = 4096;
/** What a restarted log is cut back to (PRAGMA journal_size_limit), above what steady load fills. */
export const RESTART_LIMIT_BYTES = 32 * 2 ** 20;
/** Commits are held this long at most for a restart, should the worker not answer. */
const RESTART_WAIT_MS = 100;

interface CheckpointReport {
  log: number;
  checkpointed: number;
  /** 0, or the restart this checkpoint was asked for by. */
  restart: number;
}

export interface CheckpointerOptions {
  intervalMs?: number;
  /** Holds the daemon's commits until the function it returns is called (CommitQueue.hold). */
  hold?: () => () => void;
  restartFrames?: number;
  /** Told of every checkpoint that copied pages, and of each restart (tests, diagnostics). */
  onCheckpoint?: (report: CheckpointReport) => void;
}

export class Checkpointer {
  private worker: Worker | null = null;
  private watch: TimerHandle | null = null;
  /** Lets the held commits go, while a restart is under way. */
  private release: (() => void) | null = null;
  private restarts = 0;
  private readonly intervalMs: number;
  private readonly restartFrames: number;

  constructor(
    private readonly db: Db,
    private readonly file: string,
    private readonly logger: Logger,
    private readonly options: CheckpointerOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 250;
    this.restartFrames = options.restartFrames ?? RESTART_FRAMES;
  }

  /**
   * Starts the worker once `changes()` (a count of state changes, each one commit's worth of
   * WAL pages) grows by `busyChanges` within one `everyMs` of `clock`: 250 in 5 s is a
   * checkpoint inside a commit every few seconds.
   */
  startWhenBusy(changes: () => number, clock: Clock, everyMs = 5_000, busyChanges = 250): void {
    let last = changes();
    const look = (): void => {
      const now = changes();
      if (now - last >= busyChanges) {
        this.watch = null;
        this.start();
        return;
      }
      last = now;
      this.watch = clock.setTimer(everyMs, look);
    };
    this.watch = clock.setTimer(everyMs, look);
  }

  /** Whether checkpoints run in the worker. */
  get running(): boolean {
    return this.worker !== null;
  }

  /** Moves checkpoints to the worker; if it cannot start, SQLite's own checkpoint stays on. */
  start(): void {
    const require = createRequire(import.meta.url);
    // Loaded here: a gateway that never gets busy never loads it.
    const { Worker } = require('node:worker_threads') as typeof import('node:worker_threads');
    let sqlite: string;
    try {
      sqlite = require.resolve('better-sqlite3');
    } catch (err) {
      this.logger.log('warn', `WAL checkpoints stay in the main thread: ${errorMessage(err)}`);
      return;
    }
    const synchronous = String(this.db.pragma('synchronous', { simple: true }));
    const worker = new Worker(WORKER, { eval: true, workerData: { sqlite, file: this.file, intervalMs: this.intervalMs, synchronous } });
    worker.unref();
    worker.on('message', (m: unknown) => {
      if (typeof m === 'object' && m !== null) this.checkpointed(worker, m as CheckpointReport);
      else if (m !== 'closed') this.logger.log('warn', `WAL checkpoint: ${String(m)}`);
    });
    worker.on('error', (err) => {
      this.logger.log('error', `WAL checkpoint worker failed, checkpoints back in the main thread: ${err.message}`);
      this.release?.();
      this.worker = null;
      this.db.pragma('wal_autocheckpoint = 1000');
    });
    this.db.pragma('wal_autocheckpoint = 0');
    this.db.pragma(`journal_size_limit = ${RESTART_LIMIT_BYTES}`);
    this.worker = worker;
  }

  /** Lets the worker finish a last checkpoint and close its connection. */
  async stop(): Promise<void> {
    this.stopWatching();
    const worker = this.worker;
    if (worker === null) return;
    this.worker = null;
    this.release?.();
    const closed = new Promise<void>((resolve) => {
      worker.on('message', (m) => m === 'closed' && resolve());
      worker.once('exit', () => resolve());
    });
    worker.postMessage('stop');
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
    await worker.terminate();
    this.db.pragma('wal_autocheckpoint = 1000');
  }

  /** A worker's report; once it has caught up with a long enough log, starts a restart. */
  private checkpointed(worker: Worker, report: CheckpointReport): void {
    this.options.onCheckpoint?.(report);
    if (report.restart > 0) {
      // The answer to the restart under way; one that came after its time is up changes nothing.
      if (report.restart === this.restarts) this.release?.();
      return;
    }
    const caughtUp = report.checkpointed === report.log && report.log >= this.restartFrames;
    if (!caughtUp || this.release !== null || this.options.hold === undefined || this.worker !== worker) return;
    const letGo = this.options.hold();
    const timer = setTimeout(() => release(), RESTART_WAIT_MS);
    const release = () => {
      clearTimeout(timer);
      if (this.release === release) this.release = null;
      letGo();
    };
    this.release = release;
    worker.postMessage(++this.restarts);
  }

  private stopWatching(): void {
    this.watch?.cancel();
    this.watch = null;
  }
}
