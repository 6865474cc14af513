// One SQLite file in state_dir: WAL, prepared statements, one writer (STYLE.md §11).
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { MIGRATIONS } from './migrations.js';

export type Synchronous = 'normal' | 'full';
export type Db = Database.Database;

export interface OpenOptions {
  /**
   * WAL with synchronous=NORMAL survives a crash of the process; FULL also survives a
   * power cut at the cost of an fsync per commit.
   */
  synchronous?: Synchronous;
}

export class MigrationError extends Error {}

export function openDatabase(file: string, options: OpenOptions = {}): Db {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db);
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
