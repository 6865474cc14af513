import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { migrate, MigrationError, openDatabase } from '../src/store/db.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import { Checkpointer } from '../src/store/checkpointer.js';
import { RunStore } from '../src/store/run-store.js';
import { memoryLogger } from '../src/log.js';
import { removeTree, tempDir } from './helpers/workspace.js';

let dir: string;
before(async () => {
  dir = await tempDir('sopgate-store-');
});
after(() => removeTree(dir));

describe('database', () => {
  test('a new file gets WAL and every migration; opening again applies nothing twice', () => {
    const file = `${dir}/a/sopgate.db`;
    const db = openDatabase(file);
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
    const tables = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`).all() as { name: string }[]).map((r) => r.name);
    for (const t of ['runs', 'step_results', 'ledger', 'cooldowns', 'sop_snapshots', 'idempotency_keys', 'cron_state']) assert.ok(tables.includes(t), t);
    db.close();
    const again = openDatabase(file);
    assert.equal(migrate(again), MIGRATIONS.length);
    again.close();
  });

  test('synchronous follows the option', () => {
    const normal = openDatabase(`${dir}/n.db`);
    assert.equal(normal.pragma('synchronous', { simple: true }), 1);
    normal.close();
    const full = openDatabase(`${dir}/f.db`, { synchronous: 'full' });
    assert.equal(full.pragma('synchronous', { simple: true }), 2);
    full.close();
  });

  test('a database from a newer sopgate is refused, not damaged', () => {
    const file = `${dir}/newer.db`;
    const db = openDatabase(file);
    db.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    db.close();
    assert.throws(() => openDatabase(file), (err: unknown) => err instanceof MigrationError && /newer than this sopgate knows/.test(err.message));
  });
});

describe('WAL checkpoints off the main thread', () => {
  test('the worker checkpoints what the main connection wrote; stop hands checkpoints back', async () => {
    const file = `${dir}/wal.db`;
    const store = RunStore.open(file, { synchronous: 'full' });
    let frames = 0;
    let checkpointed!: () => void;
    const seen = new Promise<void>((resolve) => (checkpointed = resolve));
    const checkpointer = new Checkpointer(store.db, file, memoryLogger(), 20, (n) => {
      frames += n;
      checkpointed();
    });
    checkpointer.start();
    assert.equal(store.db.pragma('wal_autocheckpoint', { simple: true }), 0, 'SQLite no longer checkpoints inside commits');
    for (let i = 0; i < 200; i++) {
      store.appendLedger({ at: 'now', kind: 'test', sop_name: 's', run_id: null, step_number: null, actor: null, detail: `row ${i}` });
    }
    await seen;
    assert.ok(frames > 0);
    await checkpointer.stop();
    assert.equal(store.db.pragma('wal_autocheckpoint', { simple: true }), 1000);
    assert.equal(store.ledger(undefined, 500).length, 200);
    store.close();
  });
});
