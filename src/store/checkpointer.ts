// SQLite's automatic WAL checkpoint runs inside a commit: every ~1000 pages one commit
// copies the log back into the database and fsyncs it, stalling the event loop (and the
// broker) for 10-15 ms. Instead the daemon turns the automatic checkpoint off and a worker
// thread with its own connection checkpoints PASSIVE-ly: it never blocks the writer, and the
// log restarts from its beginning once a checkpoint has caught up. A worker is a whole Node
// environment (~9 MB of RSS), so it starts only once the gateway is busy (`startWhenBusy`):
// a quiet gateway checkpoints every ~80 runs, a stall nobody notices at that rate.
import { createRequire } from 'node:module';
import type { Worker } from 'node:worker_threads';
import type { Logger } from '../log.js';
import type { Db } from './db.js';
import { errorMessage } from '../errors.js';

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.sqlite);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 1000');
db.pragma('synchronous = ' + workerData.synchronous);
const tick = () => {
  try {
    const [r] = db.pragma('wal_checkpoint(PASSIVE)');
    if (r && r.checkpointed > 0) parentPort.postMessage({ log: r.log, checkpointed: r.checkpointed });
  } catch (err) {
    parentPort.postMessage(String(err && err.message || err));
  }
};
setInterval(tick, workerData.intervalMs);
parentPort.on('message', () => {
  tick();
  db.close();
  parentPort.postMessage('closed');
});
`;

export class Checkpointer {
  private worker: Worker | null = null;
  private watch: NodeJS.Timeout | null = null;

  constructor(
    private readonly db: Db,
    private readonly file: string,
    private readonly logger: Logger,
    private readonly intervalMs = 250,
    /** Told of every checkpoint that copied pages (tests, diagnostics). */
    private readonly onCheckpoint: (frames: number) => void = () => {},
  ) {}

  /**
   * Starts the worker once `changes()` (a count of state changes, each one commit's worth of
   * WAL pages) grows by `busyChanges` within one `everyMs`: 250 in 5 s is a checkpoint
   * inside a commit every few seconds.
   */
  startWhenBusy(changes: () => number, everyMs = 5_000, busyChanges = 250): void {
    let last = changes();
    this.watch = setInterval(() => {
      const now = changes();
      if (now - last >= busyChanges) {
        this.stopWatching();
        this.start();
      }
      last = now;
    }, everyMs);
    this.watch.unref();
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
      if (typeof m === 'object' && m !== null) this.onCheckpoint((m as { checkpointed: number }).checkpointed);
      else if (m !== 'closed') this.logger.log('warn', `WAL checkpoint: ${String(m)}`);
    });
    worker.on('error', (err) => {
      this.logger.log('error', `WAL checkpoint worker failed, checkpoints back in the main thread: ${err.message}`);
      this.worker = null;
      this.db.pragma('wal_autocheckpoint = 1000');
    });
    this.db.pragma('wal_autocheckpoint = 0');
    this.worker = worker;
  }

  /** Lets the worker finish a last checkpoint and close its connection. */
  async stop(): Promise<void> {
    this.stopWatching();
    const worker = this.worker;
    if (worker === null) return;
    this.worker = null;
    const closed = new Promise<void>((resolve) => {
      worker.on('message', (m) => m === 'closed' && resolve());
      worker.once('exit', () => resolve());
    });
    worker.postMessage('stop');
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
    await worker.terminate();
    this.db.pragma('wal_autocheckpoint = 1000');
  }

  private stopWatching(): void {
    if (this.watch !== null) clearInterval(this.watch);
    this.watch = null;
  }
}
