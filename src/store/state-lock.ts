// One daemon per state directory. Two would both restore the active runs and run their
// steps twice, so the first takes an exclusive lock before the database is touched and a
// second one stops at once, naming the holder.
//
// The lock is SQLite's own: `sopgate.lock`, opened as a database in exclusive locking
// mode with a write transaction begun and never ended, holds a kernel fcntl lock on the
// file. Node has no flock(), better-sqlite3 is already loaded, and the kernel drops an
// fcntl lock when its process dies however it dies (SIGKILL, power cut), so a stale lock
// cannot outlive its daemon; nor does a shell step the daemon started inherit it. The
// holder's PID goes in `sopgate.pid` beside it, for the message.
import Database from 'better-sqlite3';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../core/errors.js';

export const LOCK_FILE = 'sopgate.lock';
export const PID_FILE = 'sopgate.pid';

export class StateLock {
  private constructor(
    private readonly db: Database.Database,
    private readonly pidFile: string,
  ) {}

  /** The lock on `dir` (created if missing), or a message naming the process that holds it. */
  static take(dir: string, pid = process.pid): { ok: true; lock: StateLock } | { ok: false; message: string } {
    const pidFile = join(dir, PID_FILE);
    let db: Database.Database | null = null;
    try {
      mkdirSync(dir, { recursive: true });
      // timeout 0: a held lock is an answer now, not after better-sqlite3's 5 s busy wait.
      db = new Database(join(dir, LOCK_FILE), { timeout: 0 });
      db.pragma('locking_mode = EXCLUSIVE');
      db.exec('BEGIN EXCLUSIVE');
      writeFileSync(pidFile, `${pid}\n`);
      return { ok: true, lock: new StateLock(db, pidFile) };
    } catch (err) {
      db?.close();
      if ((err as { code?: string }).code === 'SQLITE_BUSY') {
        return { ok: false, message: `the state directory ${dir} is in use by another sopgate daemon (PID ${holder(pidFile)}); this one did not start` };
      }
      return { ok: false, message: `cannot lock the state directory ${dir}: ${errorMessage(err)}` };
    }
  }

  /** Lets the next daemon in. The PID file goes while the lock is held: after, it could be the next holder's. */
  release(): void {
    if (!this.db.open) return;
    rmSync(this.pidFile, { force: true });
    this.db.close();
  }
}

function holder(pidFile: string): string {
  try {
    const pid = readFileSync(pidFile, 'utf8').trim();
    return /^\d+$/.test(pid) ? pid : 'unknown';
  } catch {
    return 'unknown';
  }
}
