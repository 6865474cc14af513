// What an approval button and a status LED need of the engine: which run has waited
// longest, an approval that says where it came from, and the number of waiting runs
// told whenever it changes.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { Engine } from '../src/engine/engine.js';
import { memoryLogger } from './helpers/logger.js';
import { RunStore } from '../src/store/run-store.js';
import { builtin, harness, manual, settle, sop, type EngineHarness } from './helpers/engine.js';
import { removeTree, tempDir } from './helpers/workspace.js';

let dir: string;
let n = 0;
before(async () => {
  dir = await tempDir('sopgate-waiting-');
});
after(() => removeTree(dir));

async function fresh(sops: Parameters<typeof harness>[1]): Promise<EngineHarness> {
  const sub = `${dir}/h${++n}`;
  await mkdir(sub);
  return harness(sub, sops);
}

async function start(h: EngineHarness, name: string): Promise<string> {
  const r = await h.engine.startRun(name, manual());
  assert.ok(r.ok, JSON.stringify(r));
  return r.run.run_id;
}

describe('runs waiting for approval', () => {
  test('oldestWaiting names the run that has waited longest, of one SOP when asked', async () => {
    const gated = (name: string) => sop(name, { mode: 'supervised', maxConcurrent: 5, steps: [builtin(1)] });
    const h = await fresh([gated('a'), gated('b'), sop('free', { steps: [builtin(1)] })]);
    try {
      assert.equal(h.engine.oldestWaiting(), undefined);
      await start(h, 'free');
      assert.equal(h.engine.oldestWaiting(), undefined, 'a run that never waits is not a candidate');
      const b1 = await start(h, 'b');
      h.clock.advance(1000);
      const a1 = await start(h, 'a');
      h.clock.advance(1000);
      const b2 = await start(h, 'b');
      assert.equal(h.engine.oldestWaiting(), b1);
      assert.equal(h.engine.oldestWaiting('a'), a1);
      assert.equal(h.engine.oldestWaiting('b'), b1);
      assert.equal(h.engine.oldestWaiting('free'), undefined);
      assert.ok((await h.engine.approve(b1, 'gpio', 'panel/approve_button')).ok);
      assert.equal(h.engine.oldestWaiting(), a1);
      assert.equal(h.engine.oldestWaiting('b'), b2);
      const approved = h.store.ledger(b1).find((e) => e.kind === 'approved')!;
      assert.equal(approved.actor, 'gpio');
      assert.equal(approved.detail, 'panel/approve_button');
    } finally {
      h.close();
    }
  });

  test('the waiting count is told when a run starts to wait, is approved or cancelled, and only on a change', async () => {
    const h = await fresh([sop('g', { mode: 'supervised', maxConcurrent: 5, steps: [builtin(1)] })]);
    try {
      const counts: number[] = [];
      h.engine.onWaitingCount((c) => counts.push(c));
      const first = await start(h, 'g');
      const second = await start(h, 'g');
      assert.deepEqual(counts, [1, 2]);
      assert.ok((await h.engine.approve(first, 'api')).ok);
      await settle();
      assert.equal(h.engine.getRun(first)!.status, 'completed');
      assert.ok((await h.engine.cancel(second, 'api')).ok);
      assert.deepEqual(counts, [1, 2, 1, 0]);
    } finally {
      h.close();
    }
  });

  test('a restart tells the count of the runs restored waiting', async () => {
    const gated = [sop('g', { mode: 'supervised', steps: [builtin(1)] })];
    const h = await fresh(gated);
    await start(h, 'g');
    h.close();
    const store = RunStore.open(h.file);
    const engine = new Engine({ store, clock: h.clock, logger: memoryLogger(), executors: {}, maxConcurrentTotal: 5, approvalTimeoutSecs: 0 });
    engine.setSops(gated);
    const counts: number[] = [];
    engine.onWaitingCount((c) => counts.push(c));
    engine.start();
    try {
      assert.deepEqual(counts, [1]);
    } finally {
      engine.stop();
      store.close();
    }
  });
});
