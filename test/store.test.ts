import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { ManualClock } from './helpers/clock.js';
import { IdempotencyStore } from '../src/store/idempotency.js';
import { closeDatabase, durable, migrate, MigrationError, openDatabase, walSync } from '../src/store/db.js';
import { WalSync } from '../src/store/wal-sync.js';
import { CommitQueue } from '../src/engine/commit-queue.js';
import { Tx } from '../src/engine/run-state.js';
import { MIGRATIONS } from '../src/store/migrations.js';
import { Checkpointer } from '../src/store/checkpointer.js';
import { pruneBatch } from '../src/store/retention.js';
import { RunStore } from '../src/store/run-store.js';
import { memoryLogger } from './helpers/logger.js';
import { removeTree, tempDir } from './helpers/workspace.js';
import { heldSyncStore } from './helpers/engine.js';

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

  test('synchronous follows the option: "full" commits as NORMAL and syncs the WAL itself', async () => {
    const normal = openDatabase(`${dir}/n.db`);
    assert.equal(normal.pragma('synchronous', { simple: true }), 1);
    assert.equal(walSync(normal), null);
    closeDatabase(normal);
    const file = `${dir}/f.db`;
    const full = openDatabase(file, { synchronous: 'full' });
    assert.equal(full.pragma('synchronous', { simple: true }), 1, 'no fsync inside COMMIT');
    assert.ok(walSync(full) instanceof WalSync);
    full.prepare(`INSERT INTO cooldowns (sop_name, last_finished_ms) VALUES ('a', 1)`).run();
    await durable(full);
    assert.ok(existsSync(`${file}-wal`), 'the WAL it synced is the live one');
    const reader = openDatabase(file);
    assert.equal((reader.prepare(`SELECT last_finished_ms AS ms FROM cooldowns`).get() as { ms: number }).ms, 1);
    closeDatabase(reader);
    closeDatabase(full);
  });

  test('idempotency keys stored before they had a path take it from their stored answer', () => {
    const file = `${dir}/keys-v2.db`;
    const old = new Database(file);
    old.exec(MIGRATIONS[0]!);
    old.exec(MIGRATIONS[1]!);
    old.pragma('user_version = 2');
    const put = old.prepare(`INSERT INTO idempotency_keys (key, response, expires_ms) VALUES (?, ?, ?)`);
    put.run('k', JSON.stringify({ status: 'accepted', runs: [], path: '/sop/hook' }), 5_000);
    put.run('no-path', JSON.stringify({ status: 'accepted' }), 5_000);
    put.run('not-json', '{', 5_000);
    old.close();

    const db = openDatabase(file);
    assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
    const keys = new IdempotencyStore(db, new ManualClock(1_000));
    assert.deepEqual(keys.get('/sop/hook', 'k'), { status: 'accepted', runs: [], path: '/sop/hook' });
    assert.equal(keys.get('/sop/shell', 'k'), null);
    assert.deepEqual(db.prepare(`SELECT path, key, expires_ms FROM idempotency_keys`).all(), [{ path: '/sop/hook', key: 'k', expires_ms: 5_000 }]);
    closeDatabase(db);
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
    const checkpointer = new Checkpointer(store.db, file, memoryLogger(), {
      intervalMs: 20,
      onCheckpoint: (r) => {
        frames += r.checkpointed;
        checkpointed();
      },
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

describe('the log restarts under steady load', () => {
  test('once the worker caught up, commits wait while it copies the last frames, and the next one restarts the log', async () => {
    const file = `${dir}/restart.db`;
    const store = RunStore.open(file, { synchronous: 'full' });
    const queue = new CommitQueue(store, memoryLogger());
    const reports: { log: number; checkpointed: number; restart: number }[] = [];
    const checkpointer = new Checkpointer(store.db, file, memoryLogger(), { intervalMs: 5, restartFrames: 200, hold: () => queue.hold(), onCheckpoint: (r) => reports.push(r) });
    checkpointer.start();
    assert.equal(store.db.pragma('journal_size_limit', { simple: true }), 32 * 2 ** 20);
    // A commit in every turn of the event loop: the log is never fully copied when a write begins.
    const detail = 'x'.repeat(2000);
    let committed = 0;
    const restarts = () => reports.filter((r) => r.restart > 0).length;
    const t0 = Date.now();
    while (restarts() < 3 && Date.now() - t0 < 10_000) {
      const tx = new Tx();
      tx.ledger.push({ at: 'now', kind: 'test', sop_name: 's', run_id: null, step_number: null, actor: null, detail });
      await queue.commit(tx);
      committed++;
    }
    await checkpointer.stop();
    assert.ok(restarts() >= 3, `${restarts()} restarts in ${committed} commits`);
    // Each restart follows a report of a caught-up log of 200 frames or more, and the log
    // starts again from its beginning: a later report finds it smaller than before.
    const first = reports.findIndex((r) => r.restart > 0);
    assert.ok(reports[first - 1]!.checkpointed === reports[first - 1]!.log && reports[first - 1]!.log >= 200);
    const before = Math.max(...reports.slice(0, first).map((r) => r.log));
    assert.ok(reports.slice(first + 1).some((r) => r.restart === 0 && r.log < before), `the log went on growing past ${before} frames`);
    assert.equal(store.ledger(undefined, 100_000).length, committed, 'no commit lost while held');
    store.close();
  });

  test('a held queue writes nothing until released; an explicit flush still writes', async () => {
    const file = `${dir}/hold.db`;
    const store = RunStore.open(file);
    const queue = new CommitQueue(store, memoryLogger());
    const tx = () => {
      const t = new Tx();
      t.ledger.push({ at: 'now', kind: 'test', sop_name: 's', run_id: null, step_number: null, actor: null, detail: null });
      return t;
    };
    const turn = () => new Promise((resolve) => setImmediate(resolve));
    const release = queue.hold();
    const first = queue.commit(tx());
    await turn();
    await turn();
    assert.equal(store.ledger().length, 0, 'held');
    release();
    release(); // a second call changes nothing
    await first;
    assert.equal(store.ledger().length, 1);
    const again = queue.hold();
    void queue.commit(tx());
    queue.flush();
    assert.equal(store.ledger().length, 2, 'flush() writes, held or not');
    again();
    store.close();
  });
});

describe('the checkpoint worker starts when the gateway gets busy', () => {
  test('a quiet gateway keeps SQLite\'s own checkpoints; a busy one moves them to the worker', async () => {
    const file = `${dir}/busy.db`;
    const store = RunStore.open(file);
    const clock = new ManualClock();
    const checkpointer = new Checkpointer(store.db, file, memoryLogger(), { intervalMs: 20 });
    let changes = 0;
    checkpointer.startWhenBusy(() => changes, clock, 20, 5);
    changes += 4; // under the threshold within one interval
    clock.advance(80);
    assert.equal(checkpointer.running, false);
    assert.equal(store.db.pragma('wal_autocheckpoint', { simple: true }), 1000);
    changes += 5;
    clock.advance(19);
    assert.equal(checkpointer.running, false, 'the changes are counted once the interval is over');
    clock.advance(1);
    assert.equal(checkpointer.running, true);
    assert.equal(clock.pending, 0, 'the watch ends once the worker runs');
    assert.equal(store.db.pragma('wal_autocheckpoint', { simple: true }), 0);
    await checkpointer.stop();
    assert.equal(store.db.pragma('wal_autocheckpoint', { simple: true }), 1000);
    store.close();
  });
});

describe('audit ledger retention', () => {
  const entry = (detail: string) => ({ at: 'now', kind: 'test', sop_name: 's', run_id: null, step_number: null, actor: 'engine', detail });

  test('keeps max_ledger_entries, the oldest going a batch at a time, across a reopen', () => {
    assert.deepEqual([1000, 16_000, 100_000, 10_000_000].map((max) => pruneBatch(max, 1024)), [62, 1000, 1024, 1024]);
    const file = `${dir}/ledger.db`;
    let store = RunStore.open(file, { maxLedgerEntries: 1000 });
    for (let i = 0; i < 1061; i++) store.appendLedger(entry(`e${i}`));
    assert.equal(store.ledger(undefined, 5000).length, 1061, 'a batch of 62 beyond the limit is not due yet');
    store.appendLedger(entry('e1061'));
    const kept = store.ledger(undefined, 5000).map((e) => e.detail);
    assert.equal(kept.length, 1000);
    assert.equal(kept[0], 'e1061', 'newest first');
    assert.equal(kept.at(-1), 'e62', 'the 62 oldest went');
    store.close();
    store = RunStore.open(file, { maxLedgerEntries: 1000 });
    for (let i = 1062; i < 1123; i++) store.appendLedger(entry(`e${i}`));
    assert.equal(store.ledger(undefined, 5000).length, 1061, 'the count is read back on open');
    store.appendLedger(entry('e1123'));
    assert.equal(store.ledger(undefined, 5000).length, 1000);
    store.close();
  });

  test('without a limit nothing is deleted', () => {
    const store = RunStore.open(`${dir}/ledger-all.db`);
    for (let i = 0; i < 3000; i++) store.appendLedger(entry(`e${i}`));
    assert.equal(store.ledger(undefined, 5000).length, 3000);
    store.close();
  });
});

describe('durable before told (synchronous = "full")', () => {
  /** A store whose fdatasync calls wait until the test lets them return, with a commit queue over it and what it has told. */
  function heldStore(name: string) {
    const { store, held, syncing, release } = heldSyncStore(`${dir}/${name}.db`);
    const ledger = (detail: string) => ({ at: 'now', kind: 'test', sop_name: 's', run_id: null, step_number: null, actor: null, detail });
    const tx = (detail: string, told: string[]) => {
      const t = new Tx();
      t.ledger.push(ledger(detail));
      t.after(() => told.push(detail));
      return t;
    };
    const queue = new CommitQueue(store, memoryLogger());
    const told: string[] = [];
    return { store, held, tx, syncing, queue, told, release };
  }

  test('effects wait for the fdatasync; commits made while one is in flight wait for the next', async () => {
    const h = heldStore('held');
    const { queue, told } = h;
    void queue.commit(h.tx('a', told));
    queue.flush();
    assert.equal(h.store.ledger().length, 1, 'written at once');
    await h.syncing();
    assert.equal(h.held.length, 1);
    void queue.commit(h.tx('b', told));
    void queue.commit(h.tx('c', told));
    queue.flush();
    assert.deepEqual(told, [], 'nothing told before its fdatasync returned');
    h.release();
    assert.deepEqual(told, ['a'], 'b and c were written after that fdatasync began');
    assert.equal(h.held.length, 1, 'one fdatasync for both');
    h.release();
    assert.deepEqual(told, ['a', 'b', 'c']);
    assert.equal(queue.written, 2, 'two transactions');
    const stats = h.store.sync!.takeStats();
    assert.equal(stats.syncs, 2, 'two fdatasyncs for three changes');
    assert.ok(stats.maxSeconds > 0 && stats.maxSeconds <= stats.seconds, `slowest ${stats.maxSeconds} s of ${stats.seconds} s`);
    assert.deepEqual(h.store.sync!.takeStats(), { ...stats, maxSeconds: 0 }, 'the slowest starts over; the totals do not');
    h.store.close();
  });

  test('nothing to write: effects run at once, without a transaction or an fdatasync, unless earlier writes still wait', async () => {
    const h = heldStore('empty');
    const { queue, told } = h;
    const empty = (name: string) => {
      const t = new Tx();
      t.after(() => told.push(name));
      return t;
    };
    void queue.commit(empty('nothing'));
    queue.flush();
    assert.deepEqual(told, ['nothing'], 'told at once');
    assert.equal(h.held.length, 0, 'no fdatasync asked for');
    assert.equal(queue.written, 0, 'no transaction');
    void queue.commit(h.tx('a', told));
    queue.flush();
    await h.syncing();
    void queue.commit(empty('after a'));
    queue.flush();
    assert.deepEqual(told, ['nothing'], 'an empty change waits behind a write that is not durable yet');
    h.release();
    h.release();
    assert.deepEqual(told, ['nothing', 'a', 'after a'], 'in order');
    h.store.close();
  });

  test('a flood syncs on the event loop: no more than a thousand written changes wait for the disk', async () => {
    const h = heldStore('flood');
    const { queue, told } = h;
    void queue.commit(h.tx('first', told));
    queue.flush();
    await h.syncing();
    assert.equal(h.held.length, 1, 'an fdatasync in flight');
    for (let i = 0; i < 1_000; i++) void queue.commit(h.tx(`t${i}`, told));
    queue.flush();
    assert.equal(told.length, 1_001, 'all told at once, the one in flight included, after a synchronous fdatasync');
    assert.equal(told[0], 'first');
    h.release();
    assert.equal(told.length, 1_001, 'nobody is told twice');
    h.store.close();
  });

  test('a flood in the very first commit syncs at once, beside the first asynchronous fdatasync', async () => {
    const h = heldStore('first-flood');
    const { queue, told } = h;
    for (let i = 0; i < 1_001; i++) void queue.commit(h.tx(`t${i}`, told));
    queue.flush();
    assert.equal(told.length, 1_001, 'told after a synchronous fdatasync, before the asynchronous one returned');
    await h.syncing();
    h.release();
    assert.equal(told.length, 1_001, 'nobody is told twice');
    h.store.close();
  });

  test('a failed fdatasync tells the callers, not the listeners', async () => {
    const file = `${dir}/failing.db`;
    const store = new RunStore(openDatabase(file), new WalSync(file, (_fd, done) => done(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }))));
    const queue = new CommitQueue(store, memoryLogger());
    const t = new Tx();
    let told = false;
    t.ledger.push({ at: 'now', kind: 'test', sop_name: 's', run_id: null, step_number: null, actor: null, detail: null });
    t.after(() => (told = true));
    const committed = queue.commit(t);
    queue.flush();
    await assert.rejects(committed, /EIO/);
    assert.equal(told, false);
    store.close();
  });
});
