// One SQLite file in state_dir: WAL, prepared statements, one writer.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { MIGRATIONS } from './migrations.js';
import { WalSync } from './wal-sync.js';

export type Synchronous = 'normal' | 'full';
export type Db = Database.Database;

export interface OpenOptions {
  /**
   * WAL with synchronous=NORMAL survives a crash of the process; FULL also survives a
   * power cut. FULL is kept by a WalSync (the connection itself runs NORMAL): callers that
   * must not tell anything before a write is durable wait for `walSync(db)`.
   */
  synchronous?: Synchronous;
}

export class MigrationError extends Error {}

const walSyncs = new WeakMap<Db, WalSync>();

/** What makes this connection's commits durable, or null when they are as durable as they get on return. */
export function walSync(db: Db): WalSync | null {
  return walSyncs.get(db) ?? null;
}

/** Resolves once everything written through `db` so far is on disk. */
export function durable(db: Db): Promise<void> {
  return walSync(db)?.durable() ?? Promise.resolve();
}

/** Closes the connection and its WAL descriptor. */
export function closeDatabase(db: Db): void {
  walSync(db)?.close();
  if (db.open) db.close();
}

export function openDatabase(file: string, options: OpenOptions = {}): Db {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  try {
    // Some file systems (network mounts) cannot hold a WAL; SQLite then keeps its rollback journal.
    const wal = db.pragma('journal_mode = WAL', { simple: true }) === 'wal';
    const full = options.synchronous === 'full' && file !== ':memory:';
    // FULL is kept by a WalSync only where there is a WAL to sync; without one, by SQLite itself.
    db.pragma(`synchronous = ${full && !wal ? 'FULL' : 'NORMAL'}`);
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db);
    if (full && wal) walSyncs.set(db, new WalSync(file));
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

/** Applies the migrations the file has not seen, each in its own transaction. */
export function migrate(db: Db): number {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new MigrationError(
      `database schema version ${current} is newer than this sopgate knows (${MIGRATIONS.length}): upgrade sopgate or use another state_dir`,
    );
  }
  for (let version = current; version < MIGRATIONS.length; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version]!);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
  return MIGRATIONS.length;
}
