// The upstream outbox on a real SQLite file: run events are written in the transaction of
// the change they announce, become sendable once that is durable, leave nothing behind when
// the database refuses the change, and are bounded (oldest dropped, counted).
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { MAX_RETRY_MS } from '../src/engine/storage-guard.js';
import type { Run } from '../src/core/run.js';
import { OutboxStore } from '../src/store/outbox.js';
import { RunStore } from '../src/store/run-store.js';
import { builtin, harness, heldSyncStore, manual, settle, sop, step, type EngineHarness } from './helpers/engine.js';
import { removeTree, tempDir } from './helpers/workspace.js';

let dir: string;
let n = 0;
before(async () => {
  dir = await tempDir('sopgate-outbox-');
});
after(() => removeTree(dir));

async function folder(): Promise<string> {
  const d = `${dir}/d${++n}`;
  await mkdir(d);
  return d;
}

/** What the outbox holds, oldest first: [topic, status of the run in the payload]. */
function rows(store: RunStore): [string, string][] {
  const all = store.db.prepare('SELECT topic, payload FROM outbox ORDER BY id').all() as { topic: string; payload: string }[];
  return all.map((r) => {
    const body = JSON.parse(r.payload) as Run | { run: Run };
    return [r.topic, 'run' in body ? body.run.status : body.status];
  });
}

function idOf(r: { ok: boolean; run?: Run }): string {
  assert.ok(r.ok && r.run !== undefined, JSON.stringify(r));
  return r.run.run_id;
}

describe('the outbox', () => {
  test('holds every run event of a change, in order, with the payload the local broker carries', async () => {
    const d = await folder();
    const store = RunStore.open(`${d}/sopgate.db`);
    const outbox = new OutboxStore(store.db, 100);
    const h = harness(d, [sop('ext', { mode: 'supervised', steps: [step(1), builtin(2)] })], { store, outbox });
    try {
      const id = idOf(await h.engine.startRun('ext', manual('{"t":1}')));
      await h.engine.approve(id, 'api');
      await h.engine.advance(id, { status: 'completed', output: 'done by hand' }, 'api');
      await settle();
      assert.deepEqual(rows(store), [
        [`runs/${id}/started`, 'waiting_approval'],
        [`runs/${id}/waiting_approval`, 'waiting_approval'],
        [`runs/${id}/step`, 'running'],
        [`runs/${id}/completed`, 'completed'],
      ]);
      assert.deepEqual(h.events.map((e) => e.kind), ['started', 'waiting_approval', 'step', 'completed'], 'the same events, in the same order');
      const sent = outbox.next(0, 10);
      assert.equal(sent.length, 4);
      const step1 = JSON.parse(sent[2]!.payload);
      assert.deepEqual(step1.step, h.events[2]!.step, 'an external step carries its hand-off');
      assert.deepEqual(JSON.parse(sent[3]!.payload), h.events[3]!.run);
      assert.deepEqual(outbox.next(sent[1]!.id, 10).map((r) => r.id), [sent[2]!.id, sent[3]!.id], 'read on from a cursor');
      outbox.remove([sent[0]!.id, sent[1]!.id]);
      assert.equal(outbox.size, 2);
    } finally {
      h.close();
    }
  });

  test('is written only with an upstream', async () => {
    const d = await folder();
    const h = harness(d, [sop('a', { steps: [builtin(1)] })]);
    try {
      idOf(await h.engine.startRun('a', manual()));
      await settle();
      assert.equal(h.events.length, 2);
      assert.deepEqual(rows(h.store), []);
    } finally {
      h.close();
    }
  });

  test('hands out rows only once they are durable', async () => {
    const d = await folder();
    const held = heldSyncStore(`${d}/sopgate.db`);
    const outbox = new OutboxStore(held.store.db, 100);
    let woken = 0;
    outbox.onDurable(() => woken++);
    const h: EngineHarness = harness(d, [sop('s', { mode: 'supervised', steps: [step(1)] })], { store: held.store, outbox });
    try {
      const started = h.engine.startRun('s', manual());
      await held.syncing();
      assert.equal(rows(held.store).length, 2, 'written with the run');
      assert.deepEqual(outbox.next(0, 10), [], 'not on disk yet: nothing to send');
      assert.equal(woken, 0);
      held.release();
      idOf(await started);
      assert.equal(woken, 1);
      assert.deepEqual(outbox.next(0, 10).map((r) => r.topic.split('/')[2]), ['started', 'waiting_approval']);
    } finally {
      h.close();
    }
  });

  test('a batch the database refuses leaves no row; ids go on in order once it takes them', async () => {
    const d = await folder();
    const store = RunStore.open(`${d}/sopgate.db`);
    const outbox = new OutboxStore(store.db, 100);
    const h = harness(d, [sop('gate', { mode: 'supervised', steps: [step(1)], maxConcurrent: 2 })], { store, outbox });
    try {
      const id = idOf(await h.engine.startRun('gate', manual()));
      const before = outbox.next(0, 10);
      assert.equal(before.length, 2);
      // The database refuses the batch at its outbox row of a `step` (the approved step's hand-off).
      store.db.exec(`CREATE TEMP TRIGGER refuse BEFORE INSERT ON outbox WHEN NEW.topic LIKE '%/step'
        BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`);
      const [approved, started] = await Promise.all([h.engine.approve(id, 'api'), h.engine.startRun('gate', manual())]);
      assert.equal(approved.ok ? 'ok' : approved.reason, 'storage_unavailable');
      assert.equal(started.ok ? 'ok' : started.reason, 'storage_unavailable', 'written in the same transaction');
      assert.deepEqual(rows(store).map((r) => r[0].split('/')[2]), ['started', 'waiting_approval'], 'nothing of the refused batch');
      assert.equal(outbox.size, 2);
      store.db.exec('DROP TRIGGER refuse');
      h.clock.advance(MAX_RETRY_MS);
      await settle();
      assert.ok((await h.engine.approve(id, 'api')).ok);
      await settle();
      const after = outbox.next(before[1]!.id, 10);
      assert.deepEqual(after.map((r) => r.topic.split('/')[2]), ['step']);
      assert.equal(after[0]!.id, before[1]!.id + 1, 'the refused rows left no gap');
      assert.equal(outbox.size, 3);
    } finally {
      h.close();
    }
  });

  test('keeps at most outbox_max_messages: the oldest go and are counted, the runs go on', async () => {
    const d = await folder();
    const store = RunStore.open(`${d}/sopgate.db`);
    const outbox = new OutboxStore(store.db, 3);
    const h = harness(d, [sop('a', { steps: [builtin(1)], maxConcurrent: 5 })], { store, outbox });
    try {
      const first = idOf(await h.engine.startRun('a', manual()));
      const second = idOf(await h.engine.startRun('a', manual()));
      await settle();
      assert.equal(h.engine.getRun(second)!.status, 'completed');
      assert.deepEqual(rows(store).map((r) => r[0]), [`runs/${first}/completed`, `runs/${second}/started`, `runs/${second}/completed`]);
      assert.equal(outbox.dropped, 1);
      assert.equal(outbox.size, 3);
    } finally {
      h.close();
    }
  });

  test('survives a restart: what was not acknowledged is still there, in order', async () => {
    const d = await folder();
    let store = RunStore.open(`${d}/sopgate.db`);
    let h = harness(d, [sop('a', { steps: [builtin(1)] })], { store, outbox: new OutboxStore(store.db, 100) });
    idOf(await h.engine.startRun('a', manual()));
    await settle();
    h.close();
    store = RunStore.open(`${d}/sopgate.db`);
    const outbox = new OutboxStore(store.db, 100);
    h = harness(d, [sop('a', { steps: [builtin(1)] })], { store, outbox });
    try {
      const rowsNow = outbox.next(0, 10);
      assert.deepEqual(rowsNow.map((r) => r.topic.split('/')[2]), ['started', 'completed']);
      idOf(await h.engine.startRun('a', manual()));
      await settle();
      assert.deepEqual(outbox.next(rowsNow[1]!.id, 10).map((r) => r.topic.split('/')[2]), ['started', 'completed']);
    } finally {
      h.close();
    }
  });
});
