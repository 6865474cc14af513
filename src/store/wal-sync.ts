// `[store] synchronous = "full"` without the event loop waiting for the disk. SQLite's FULL
// fsyncs the WAL inside every COMMIT, on the main thread: at 1,000 runs/s that kept the
// loop (and with it the broker) blocked for most of each second, and an SD card's fsync can
// take tens of milliseconds. So the connection commits with NORMAL (the frames reach the
// page cache, nothing waits) and this class fdatasyncs the WAL file on libuv's thread pool;
// whoever must not tell anything before a write is durable waits for `afterDurable`. Once
// the fdatasync that started after a commit returns, the commit is on disk exactly as FULL
// would have left it: the WAL header, the frames and the commit frame all live in that
// file. The directory is synced once too, as SQLite does for a new WAL. One fdatasync is in
// flight at a time; every write made meanwhile is covered by the next one. Under a flood
// the caller syncs `now`, on the event loop: that holds the sockets unread as FULL did, so
// that changes waiting for the disk cannot pile up in memory faster than it takes them.
import { close, closeSync, fdatasync, fdatasyncSync, fsyncSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

type Done = (err: Error | null) => void;
type SyncFile = (fd: number, done: (err: Error | null) => void) => void;

/** For /metrics: how many fdatasyncs, and how long they took. */
export interface SyncStats {
  syncs: number;
  seconds: number;
  /** The slowest since the previous `takeStats`. */
  maxSeconds: number;
}

export class WalSync {
  private fd: number | null = null;
  private waiting: Done[] = [];
  /** Covered by the fdatasync in flight; `now` may take them over. */
  private inFlight: Done[] = [];
  private syncing = false;
  private readonly figures: SyncStats = { syncs: 0, seconds: 0, maxSeconds: 0 };

  constructor(
    private readonly dbFile: string,
    /** fdatasync(2); a test holds it to see who waits. */
    private readonly syncFile: SyncFile = fdatasync,
  ) {}

  /** Calls `done` once everything written so far is on disk, or with the error that kept it off. */
  afterDurable(done: Done): void {
    this.waiting.push(done);
    if (!this.syncing) this.start();
  }

  /** Syncs on this thread and calls back everyone waiting, the fdatasync in flight's too. */
  now(): void {
    const done = [...this.inFlight.splice(0), ...this.waiting.splice(0)];
    let error: Error | null = null;
    try {
      const fd = this.wal();
      const t0 = performance.now();
      try {
        fdatasyncSync(fd);
      } finally {
        this.count(t0);
      }
    } catch (err) {
      error = err as Error;
    }
    for (const d of done) d(error);
  }

  /** Syncs so far and their durations; the slowest starts over from here. */
  takeStats(): SyncStats {
    const out = { ...this.figures };
    this.figures.maxSeconds = 0;
    return out;
  }

  /** Promise form of `afterDurable`. */
  durable(): Promise<void> {
    return new Promise((resolve, reject) => this.afterDurable((err) => (err === null ? resolve() : reject(err))));
  }

  /** Closes the WAL descriptor once the fdatasync in flight has returned. */
  close(): void {
    if (this.syncing) {
      this.waiting.push(() => this.close());
      return;
    }
    if (this.fd !== null) close(this.fd, () => {});
    this.fd = null;
  }

  private start(): void {
    const batch = (this.inFlight = this.waiting);
    this.waiting = [];
    this.syncing = true;
    const finish = (err: Error | null) => {
      this.syncing = false;
      for (const done of batch.splice(0)) done(err);
      if (this.waiting.length > 0) this.start();
    };
    let fd: number;
    try {
      fd = this.wal();
    } catch (err) {
      finish(err as Error);
      return;
    }
    const t0 = performance.now();
    this.syncFile(fd, (err) => {
      this.count(t0);
      finish(err);
    });
  }

  private count(since: number): void {
    const seconds = (performance.now() - since) / 1000;
    this.figures.syncs++;
    this.figures.seconds += seconds;
    this.figures.maxSeconds = Math.max(this.figures.maxSeconds, seconds);
  }

  /**
   * The WAL's descriptor. The first call opens it (SQLite created it with the first write)
   * and makes its directory entry durable, once per process, on this thread.
   */
  private wal(): number {
    if (this.fd !== null) return this.fd;
    const fd = openSync(`${this.dbFile}-wal`, 'r');
    try {
      const dir = openSync(dirname(this.dbFile), 'r');
      try {
        fsyncSync(dir);
      } finally {
        closeSync(dir);
      }
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    return (this.fd = fd);
  }
}
