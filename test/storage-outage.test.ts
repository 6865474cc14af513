// A database that cannot be written (SQLITE_FULL, for real: its page count capped and its
// last page packed): changes it refuses are taken back from memory, the gateway is degraded
// until a retry succeeds, and changes nobody waits for are made once writes work again.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { FIRST_RETRY_MS, MAX_RETRY_MS } from '../src/engine/storage-guard.js';
import type { Run } from '../src/core/run.js';
import { memoryLogger } from './helpers/logger.js';
import type { SopDefinition } from '../src/sop/types.js';
import { RunStore } from '../src/store/run-store.js';
import { builtin, fullDisk, harness, heldSyncStore, manual, settle, sop, step, TestExecutor, type EngineHarness } from './helpers/engine.js';
import { removeTree, tempDir } from './helpers/workspace.js';

let dir: string;
let n = 0;
before(async () => {
  dir = await tempDir('sopgate-outage-');
});
after(() => removeTree(dir));

/** A harness over a store the test can fill, in a folder of its own. */
async function onFullableDisk(sops: SopDefinition[], executor = new TestExecutor(false)) {
  const d = `${dir}/d${++n}`;
  await mkdir(d);
  const store = RunStore.open(`${d}/sopgate.db`);
  const logger = memoryLogger();
  const h = harness(d, sops, { store, executor, logger });
  return { h, d, disk: fullDisk(store), logs: logger.lines };
}

/** Lets the next retry run (the clock reaches it) and its transaction settle. */
async function retry(h: EngineHarness): Promise<void> {
  h.clock.advance(MAX_RETRY_MS);
  await settle();
}

function kinds(h: EngineHarness, runId: string): string[] {
  return h.store.ledger(runId).map((e) => `${e.kind}${e.actor === 'engine' ? '' : ` ${e.actor}`}`);
}

/** What the API shows of a run is what the database holds. */
function assertAsOnDisk(h: EngineHarness, runId: string): Run {
  const shown = h.engine.getRun(runId)!;
  const stored = h.store.getRun(runId)!;
  assert.deepEqual(
    [shown.status, shown.current_step, shown.waiting_since, shown.step_results],
    [stored.status, stored.current_step, stored.waiting_since, stored.step_results],
    `run ${runId} as shown and as stored`,
  );
  return shown;
}

function idOf(r: { ok: boolean; run?: Run }): string {
  assert.ok(r.ok && r.run !== undefined, JSON.stringify(r));
  return r.run.run_id;
}

describe('a step that ends while the database is full', () => {
  test('the run keeps its durable state; the result is kept, written once writes work, and the step does not run again', async () => {
    const { h, disk } = await onFullableDisk([sop('b', { steps: [builtin(1, 'one'), builtin(2, 'two')] })]);
    try {
      const id = idOf(await h.engine.startRun('b', manual()));
      await settle();
      assert.equal(h.executor.calls.length, 1);
      disk.fill();
      h.clock.advance(2_000);
      h.executor.calls[0]!.settle({ status: 'completed', output: 'did one' });
      await settle();

      const storage = h.engine.storageStatus();
      assert.equal(storage.available, false);
      assert.match(storage.reason!, /database or disk is full/);
      const run = assertAsOnDisk(h, id);
      assert.equal(run.status, 'running');
      assert.equal(run.current_step, 1);
      assert.deepEqual(run.step_results, []);
      await retry(h);
      assert.equal(h.engine.storageStatus().available, false, 'still full: the retry failed');
      assert.equal(h.executor.calls.length, 1, 'step 2 waits');

      disk.free();
      await retry(h);
      assert.equal(h.engine.storageStatus().available, true, 'recovered without a restart');
      assert.deepEqual(h.executor.calls.map((c) => c.message), ['one', 'two'], 'step 1 ran once, step 2 followed');
      h.executor.calls[1]!.settle({ status: 'completed', output: 'did two' });
      await settle();
      const done = assertAsOnDisk(h, id);
      assert.equal(done.status, 'completed');
      assert.deepEqual(done.step_results.map((r) => [r.step_number, r.output, r.started_at]), [
        [1, 'did one', '2026-01-01T00:00:00.000Z'],
        [2, 'did two', done.step_results[1]!.started_at],
      ]);
      assert.deepEqual(kinds(h, id), ['started', 'step_started', 'step_finished', 'step_started', 'step_finished', 'completed']);
      const restored = h.store.ledger().filter((e) => e.kind === 'storage_restored');
      assert.equal(restored.length, 1);
      assert.match(restored[0]!.detail!, /writes failed for \d+ s from .*: database or disk is full/);
    } finally {
      h.close();
    }
  });
});

describe('what is shown', () => {
  test('a change is shown once it is durable, not while it waits for the disk', async () => {
    const d = `${dir}/d${++n}`;
    await mkdir(d);
    const held = heldSyncStore(`${d}/sopgate.db`);
    const h = harness(d, [sop('s', { mode: 'supervised', steps: [step(1)] })], { store: held.store });
    try {
      const started = h.engine.startRun('s', manual());
      await held.syncing();
      assert.deepEqual(h.engine.listRuns(), [], 'written, not yet on disk: not listed');
      held.release();
      const id = idOf(await started);
      const approved = h.engine.approve(id, 'api');
      await held.syncing();
      assert.equal(h.engine.getRun(id)!.status, 'waiting_approval', 'the approval is not shown before it is on disk');
      assert.equal(h.engine.listRuns()[0]!.status, 'waiting_approval');
      held.release();
      assert.ok((await approved).ok);
      assert.equal(h.engine.getRun(id)!.status, 'running');
    } finally {
      h.close();
    }
  });
});

describe('changes the database refuses', () => {
  test('a start, an approval, an advance and a cancel in one failed transaction leave memory as the disk is', async () => {
    const { h, disk } = await onFullableDisk([
      sop('gate', { mode: 'supervised', priority: 'high', steps: [builtin(1)] }),
      sop('ext', { steps: [step(1), step(2)] }),
      sop('cool', { steps: [step(1)], cooldown: 600, maxConcurrent: 2 }),
      sop('one', { steps: [step(1)], maxConcurrent: 1 }),
    ]);
    try {
      const gate = idOf(await h.engine.startRun('gate', manual()));
      const ext = idOf(await h.engine.startRun('ext', manual()));
      const cool = idOf(await h.engine.startRun('cool', manual()));
      const statsBefore = h.engine.stats();
      disk.fill();
      const results = await Promise.all([
        h.engine.startRun('one', manual()),
        h.engine.approve(gate, 'api'),
        h.engine.advance(ext, { status: 'completed', output: 'x' }, 'api'),
        h.engine.cancel(cool, 'api'),
      ]);
      for (const r of results) {
        assert.ok(!r.ok);
        assert.equal(r.reason, 'storage_unavailable');
        assert.match(r.message, /database or disk is full.*nothing was changed/);
      }
      assert.equal(assertAsOnDisk(h, gate).status, 'waiting_approval');
      assert.deepEqual(assertAsOnDisk(h, ext).current_step, 1);
      assert.equal(assertAsOnDisk(h, cool).status, 'running');
      assert.deepEqual(h.engine.listRuns({ sop: 'one' }), []);
      const stats = h.engine.stats();
      assert.deepEqual([stats.active, stats.runsStarted, stats.runsFinished], [statsBefore.active, statsBefore.runsStarted, statsBefore.runsFinished]);
      assert.deepEqual(h.events.filter((e) => e.kind === 'cancelled'), [], 'nothing announced');

      // Degraded: refused before anything changes, after the checks that need no write.
      const refused = await h.engine.startRun('cool', manual());
      assert.equal(refused.ok ? 'ok' : refused.reason, 'storage_unavailable', 'no cooldown left behind by the failed cancel');
      assert.equal((await h.engine.approve(ext, 'api')).ok ? 'ok' : 'refused', 'refused');
      assert.equal(h.engine.stats().refusals.storage_unavailable, 1);

      disk.free();
      await retry(h);
      assert.ok((await h.engine.startRun('one', manual())).ok, 'no phantom active run of "one"');
      assert.ok((await h.engine.startRun('cool', manual())).ok, 'no cooldown, one slot left');
      assert.equal((await h.engine.advance(ext, { status: 'completed', output: 'x' }, 'api')).ok, true);
      assert.equal((await h.engine.cancel(cool, 'api')).ok, true);
      h.clock.advance(300_000); // the approval timer the failed approve had cancelled is armed again
      await settle();
      assert.equal(assertAsOnDisk(h, gate).status, 'running');
      assert.deepEqual(kinds(h, gate), ['started', 'waiting', 'approved timeout', 'step_started']);
      assert.deepEqual(kinds(h, ext), ['started', 'step_started', 'advanced api', 'step_finished', 'step_started']);
      assert.deepEqual(kinds(h, cool), ['started', 'step_started', 'cancelled api']);
      assert.equal(h.events.filter((e) => e.kind === 'cancelled').length, 1);
    } finally {
      h.close();
    }
  });

  test('a cancel taken back does not lose the result its action reported meanwhile', async () => {
    const { h, disk } = await onFullableDisk([sop('b', { steps: [builtin(1)] })]);
    try {
      const id = idOf(await h.engine.startRun('b', manual()));
      await settle();
      disk.fill();
      const cancelled = h.engine.cancel(id, 'api');
      // The action ends in the same turn, before the cancel's transaction is tried.
      h.executor.calls[0]!.settle({ status: 'completed', output: 'finished anyway' });
      await Promise.resolve();
      assert.equal((await cancelled).ok, false);
      assert.equal(h.executor.calls[0]!.ctx.signal.aborted, false, 'the action is not aborted by a cancel that did not happen');
      disk.free();
      await retry(h);
      const run = assertAsOnDisk(h, id);
      assert.equal(run.status, 'completed');
      assert.equal(run.step_results[0]!.output, 'finished anyway');
    } finally {
      h.close();
    }
  });

  test('an approval timeout that falls due during the outage approves once writes work', async () => {
    const { h, disk } = await onFullableDisk([sop('gate', { mode: 'supervised', priority: 'critical', steps: [builtin(1)] })], new TestExecutor());
    try {
      const id = idOf(await h.engine.startRun('gate', manual()));
      disk.fill();
      h.clock.advance(300_000);
      await settle();
      assert.equal(h.engine.storageStatus().available, false);
      assert.equal(assertAsOnDisk(h, id).status, 'waiting_approval');
      assert.equal(h.executor.calls.length, 0);
      disk.free();
      await retry(h);
      assert.equal(assertAsOnDisk(h, id).status, 'completed');
      assert.equal(h.executor.calls.length, 1);
      assert.deepEqual(kinds(h, id), ['started', 'waiting', 'approved timeout', 'step_started', 'step_finished', 'completed']);
    } finally {
      h.close();
    }
  });

  test('a refusal on a full disk is answered, not thrown; its row is counted as lost', async () => {
    const { h, disk } = await onFullableDisk([sop('cool', { steps: [builtin(1)], cooldown: 600 })], new TestExecutor());
    try {
      assert.ok((await h.engine.startRun('cool', manual())).ok);
      await settle();
      disk.fill();
      for (let i = 0; i < 3; i++) {
        const r = await h.engine.startRun('cool', manual());
        assert.equal(r.ok ? 'ok' : r.reason, 'cooldown');
      }
      assert.equal(h.engine.storageStatus().available, false, 'the failed row write degrades the gateway');
      h.clock.advance(1_000); // the coalescing window closes with two refusals to write
      await settle();
      assert.equal(h.engine.stats().refusals.cooldown, 3);
      disk.free();
      await retry(h);
      assert.equal(h.engine.storageStatus().available, true);
      const restored = h.store.ledger().find((e) => e.kind === 'storage_restored');
      assert.match(restored!.detail!, /2 refusal row\(s\) could not be written/);
    } finally {
      h.close();
    }
  });
});

describe('the outage itself', () => {
  test('retries back off up to the limit; the condition is logged once when it begins and once when it ends', async () => {
    const { h, disk, logs } = await onFullableDisk([sop('s', { steps: [step(1)] })]);
    try {
      disk.fill();
      const r = await h.engine.startRun('s', manual());
      assert.equal(r.ok ? 'ok' : r.reason, 'storage_unavailable');
      const waits: number[] = [];
      for (let i = 0; i < 8; i++) {
        const s = h.engine.storageStatus();
        waits.push(s.retryInSecs!);
        h.clock.advance(s.retryInSecs! * 1000);
        await settle();
        assert.ok(!(await h.engine.startRun('s', manual())).ok);
      }
      assert.equal(FIRST_RETRY_MS, 250);
      assert.deepEqual(waits, [1, 1, 1, 2, 4, 8, 15, 15], 'seconds to the next retry: 0.25 s doubling up to 15 s');
      disk.free();
      await retry(h);
      assert.ok((await h.engine.startRun('s', manual())).ok);
      const storageLines = logs.filter((l) => l.includes('[store]'));
      assert.equal(storageLines.length, 2, storageLines.join('\n'));
      assert.match(storageLines[0]!, /^error .*cannot write the state database \(database or disk is full\)/);
      assert.match(storageLines[1]!, /^info .*takes writes again/);
    } finally {
      h.close();
    }
  });

  test('a restart on a full disk restores the runs as stored and resumes them once it can write, each step once', async () => {
    const sops = [sop('b', { steps: [builtin(1, 'one'), builtin(2, 'two')] }), sop('w', { mode: 'supervised', steps: [builtin(1)] })];
    const { h, d } = await onFullableDisk(sops);
    const id = idOf(await h.engine.startRun('b', manual()));
    const waiting = idOf(await h.engine.startRun('w', manual()));
    await settle();
    h.close();

    const store = RunStore.open(`${d}/sopgate.db`);
    const disk = fullDisk(store);
    disk.fill();
    const executor = new TestExecutor(false);
    const again = harness(d, sops, { store, executor, clock: h.clock });
    try {
      assert.equal(again.engine.storageStatus().available, false);
      assert.equal(assertAsOnDisk(again, id).status, 'running');
      assert.equal(assertAsOnDisk(again, waiting).status, 'waiting_approval');
      assert.equal(executor.calls.length, 0, 'nothing runs while the database cannot record it');
      disk.free();
      await retry(again);
      assert.deepEqual(executor.calls.map((c) => c.message), ['one'], 'the interrupted step runs again, once');
      executor.calls[0]!.settle({ status: 'completed', output: 'one' });
      await settle();
      executor.calls[1]!.settle({ status: 'completed', output: 'two' });
      await settle();
      assert.equal(assertAsOnDisk(again, id).status, 'completed');
      assert.deepEqual(kinds(again, id), ['started', 'step_started', 'resumed', 'step_finished', 'step_started', 'step_finished', 'completed']);
    } finally {
      again.close();
    }
  });

  test('a run whose definition is gone does not keep a full disk from starting', async () => {
    const sops = [sop('s', { mode: 'supervised', steps: [builtin(1)] })];
    const { h, d } = await onFullableDisk(sops);
    const id = idOf(await h.engine.startRun('s', manual()));
    h.engine.stop();
    h.store.db.pragma('foreign_keys = OFF'); // a hand-edited database
    h.store.db.prepare('DELETE FROM sop_snapshots').run();
    h.store.close();
    const store = RunStore.open(`${d}/sopgate.db`);
    fullDisk(store).fill();
    const again = harness(d, sops, { store, clock: h.clock });
    try {
      assert.equal(again.engine.stats().active, 0, 'it does not count as active');
      assert.equal(again.store.getRun(id)!.status, 'waiting_approval', 'failed at the next start that can write');
    } finally {
      again.close();
    }
  });
});
