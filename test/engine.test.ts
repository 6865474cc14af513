import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { StartResult } from '../src/engine/types.js';
import type { ExecutionMode, Priority } from '../src/sop/types.js';
import { builtin, harness, heldSyncStore, manual, settle, sop, step, type EngineHarness } from './helpers/engine.js';
import { removeTree, tempDir } from './helpers/workspace.js';
import { mkdir } from 'node:fs/promises';
import { ManualClock } from './helpers/clock.js';
import { createLogExecutor } from '../src/executors/log.js';
import { memoryLogger } from './helpers/logger.js';
import { pruneBatch, RUN_BATCH } from '../src/store/retention.js';

let dir: string;
let n = 0;
before(async () => {
  dir = await tempDir('sopgate-engine-');
});
after(() => removeTree(dir));

/** A fresh harness in its own folder. */
async function fresh(...args: Parameters<typeof harness> extends [unknown, ...infer R] ? R : never): Promise<EngineHarness> {
  const sub = `${dir}/h${++n}`;
  const { mkdir } = await import('node:fs/promises');
  await mkdir(sub);
  return harness(sub, ...args);
}

function ledgerKinds(h: EngineHarness, runId: string): string[] {
  return h.store.ledger(runId).map((e) => e.kind);
}

describe('execution modes (the table of docs/sop-format.md)', () => {
  const cases: [ExecutionMode, Priority, boolean[]][] = [
    ['auto', 'normal', [false, false, false]],
    ['supervised', 'normal', [true, false, false]],
    ['step_by_step', 'normal', [true, true, true]],
    ['priority_based', 'critical', [false, false, false]],
    ['priority_based', 'high', [false, false, false]],
    ['priority_based', 'normal', [true, false, false]],
    ['priority_based', 'low', [true, false, false]],
  ];
  for (const [mode, priority, waits] of cases) {
    test(`${mode} / ${priority}: waits before steps ${waits.map((w, i) => (w ? i + 1 : '')).filter(Boolean).join(',') || 'none'}`, async () => {
      const h = await fresh([sop('s', { mode, priority, steps: [builtin(1), builtin(2), builtin(3)] })]);
      try {
        const started = await h.engine.startRun('s', manual());
        assert.ok(started.ok);
        const id = started.run.run_id;
        const waited: number[] = [];
        await settle();
        while (h.engine.getRun(id)!.status === 'waiting_approval') {
          const at = h.engine.getRun(id)!.current_step;
          waited.push(at);
          assert.equal(h.executor.calls.length, at - 1, 'the step did not run before approval');
          assert.ok((await h.engine.approve(id, 'cli')).ok);
          await settle();
        }
        assert.deepEqual(waited, waits.flatMap((w, i) => (w ? [i + 1] : [])));
        await settle();
        const run = h.engine.getRun(id)!;
        assert.equal(run.status, 'completed');
        assert.equal(run.current_step, 3, 'a completed run reads step 3 of 3');
        assert.equal(run.step_results.length, 3);
        assert.deepEqual(h.executor.calls.map((c) => c.message), ['step 1', 'step 2', 'step 3']);
      } finally {
        h.close();
      }
    });
  }

  test('requires_confirmation waits in auto mode too, and only at that step', async () => {
    const h = await fresh([sop('s', { mode: 'auto', steps: [builtin(1), builtin(2, 'two', { requires_confirmation: true })] })]);
    try {
      const id = (await h.engine.startRun('s', manual()) as { run: { run_id: string } }).run.run_id;
      await settle();
      const run = h.engine.getRun(id)!;
      assert.equal(run.status, 'waiting_approval');
      assert.equal(run.current_step, 2);
      assert.deepEqual(h.executor.calls.map((c) => c.message), ['step 1']);
      await h.engine.approve(id, 'api');
      await settle();
      assert.equal(h.engine.getRun(id)!.status, 'completed');
    } finally {
      h.close();
    }
  });
});

describe('refusals', () => {
  test('unknown SOP, no steps, concurrency, global concurrency, cooldown: typed, counted, in the ledger', async () => {
    const h = await fresh(
      [
        sop('empty', { steps: [] }),
        sop('one', { steps: [step(1)], maxConcurrent: 1 }),
        sop('many', { steps: [step(1)], maxConcurrent: 10 }),
        sop('cool', { steps: [builtin(1)], cooldown: 60 }),
      ],
      { maxConcurrentTotal: 3 },
    );
    h.executor.auto = false; // `cool` stays active until the test settles it
    try {
      const reason = (r: StartResult) => (r.ok ? 'ok' : r.reason);
      assert.equal(reason(await h.engine.startRun('ghost', manual())), 'unknown_sop');
      assert.equal(reason(await h.engine.startRun('empty', manual())), 'no_steps');
      assert.equal(reason(await h.engine.startRun('one', manual())), 'ok');
      assert.equal(reason(await h.engine.startRun('one', manual())), 'concurrency', 'the waiting external step counts as active');
      assert.equal(reason(await h.engine.startRun('many', manual())), 'ok');
      assert.equal(reason(await h.engine.startRun('cool', manual())), 'ok');
      assert.equal(reason(await h.engine.startRun('many', manual())), 'global_concurrency', '3 active runs is the global limit');
      h.executor.auto = true;
      h.executor.calls[0]!.settle({ status: 'completed', output: 'cooled' });
      await settle();
      const cooling = await h.engine.startRun('cool', manual());
      assert.ok(!cooling.ok);
      assert.equal(cooling.reason, 'cooldown');
      assert.equal(cooling.retryAfterSecs, 60);
      h.clock.advance(59_000);
      assert.equal(reason(await h.engine.startRun('cool', manual())), 'cooldown');
      h.clock.advance(1_000);
      assert.equal(reason(await h.engine.startRun('cool', manual())), 'ok', 'cooldown over after 60 s');

      assert.deepEqual(h.engine.stats().refusals, { unknown_sop: 1, no_steps: 1, concurrency: 1, global_concurrency: 1, cooldown: 2 });
      const refused = h.store.ledger().filter((e) => e.kind === 'refused').map((e) => `${e.sop_name} ${e.detail?.split(':')[0]}`);
      // The first refusal of each (SOP, reason) window is written at once; the 1 s window
      // of the first cooldown refusal had closed when the second one came 59 s later.
      assert.deepEqual(refused.sort(), ['cool cooldown', 'cool cooldown', 'empty no_steps', 'ghost unknown_sop', 'many global_concurrency', 'one concurrency']);
    } finally {
      h.close();
    }
  });

  test('a flood of refusals writes one row per window carrying the count', async () => {
    const h = await fresh([sop('cool', { steps: [builtin(1)], cooldown: 600 })]);
    try {
      await h.engine.startRun('cool', manual());
      await settle();
      for (let i = 0; i < 1000; i++) assert.ok(!(await h.engine.startRun('cool', manual())).ok);
      const rows = () => h.store.ledger().filter((e) => e.kind === 'refused');
      assert.equal(rows().length, 1, 'only the first refusal is written at once');
      h.clock.advance(1000);
      assert.equal(rows().length, 2);
      assert.match(rows()[0]!.detail!, /cooldown: .*\(999 refusals coalesced\)/);
      for (let i = 0; i < 5; i++) await h.engine.startRun('cool', manual());
      h.engine.stop(); // stop flushes the open window
      assert.equal(rows().length, 4);
      assert.match(rows()[0]!.detail!, /\(4 refusals coalesced\)/);
      assert.equal(h.engine.stats().refusals.cooldown, 1005);
    } finally {
      h.store.close();
    }
  });
});

describe('approve, advance, cancel', () => {
  test('misuse is refused with a reason, and changes nothing', async () => {
    const h = await fresh([sop('ext', { mode: 'supervised', steps: [step(1), builtin(2)] })]);
    try {
      const r = await h.engine.startRun('ext', manual());
      assert.ok(r.ok);
      const id = r.run.run_id;
      const adv = await h.engine.advance(id, { status: 'completed' }, 'api');
      assert.ok(!adv.ok);
      assert.equal(adv.reason, 'waiting_approval', 'advance never bypasses approval');
      assert.equal(h.engine.getRun(id)!.step_results.length, 0);
      assert.ok((await h.engine.approve(id, 'cli')).ok);
      const again = await h.engine.approve(id, 'cli');
      assert.ok(!again.ok);
      assert.equal(again.reason, 'not_waiting');
      h.executor.auto = false; // hold step 2, a built-in action, to try advancing it
      assert.ok((await h.engine.advance(id, { status: 'completed', output: 'done by hand' }, 'api')).ok);
      assert.equal(h.engine.getRun(id)!.current_step, 2);
      const notExternal = await h.engine.advance(id, { status: 'completed' }, 'api');
      assert.ok(!notExternal.ok);
      assert.equal(notExternal.reason, 'not_external');
      h.executor.calls[0]!.settle({ status: 'completed', output: 'ok' });
      await settle();
      assert.equal(h.engine.getRun(id)!.status, 'completed');
      const late = await h.engine.cancel(id, 'api');
      assert.ok(!late.ok);
      assert.equal(late.reason, 'finished');
      const ghost = await h.engine.approve('no-such-run', 'api');
      assert.ok(!ghost.ok);
      assert.equal(ghost.reason, 'not_found');
      assert.deepEqual(ledgerKinds(h, id), ['started', 'waiting', 'approved', 'step_started', 'advanced', 'step_finished', 'step_started', 'step_finished', 'completed']);
    } finally {
      h.close();
    }
  });

  test('advance on a built-in step is refused while it runs', async () => {
    const h = await fresh([sop('b', { steps: [builtin(1)] })], {});
    h.executor.auto = false;
    try {
      const r = await h.engine.startRun('b', manual());
      assert.ok(r.ok);
      const res = await h.engine.advance(r.run.run_id, { status: 'completed' }, 'api');
      assert.ok(!res.ok);
      assert.equal(res.reason, 'not_external');
      h.executor.calls[0]!.settle({ status: 'completed', output: 'ok' });
      await settle();
      assert.equal(h.engine.getRun(r.run.run_id)!.status, 'completed');
    } finally {
      h.close();
    }
  });

  test('cancel works on a waiting run, a running action and an external step; the action is aborted', async () => {
    const h = await fresh([
      sop('wait', { mode: 'supervised', steps: [step(1)] }),
      sop('act', { steps: [builtin(1)] }),
      sop('ext', { steps: [step(1)] }),
    ]);
    h.executor.auto = false;
    try {
      const ids: string[] = [];
      for (const name of ['wait', 'act', 'ext']) ids.push(((await h.engine.startRun(name, manual())) as { run: { run_id: string } }).run.run_id);
      for (const id of ids) {
        const res = await h.engine.cancel(id, 'cli');
        assert.ok(res.ok);
        assert.equal(res.run.status, 'cancelled');
        assert.equal(res.run.reason, 'cancelled by cli');
      }
      assert.equal(h.executor.calls[0]!.ctx.signal.aborted, true);
      h.executor.calls[0]!.settle({ status: 'completed', output: 'too late' });
      await settle();
      assert.equal(h.engine.getRun(ids[1]!)!.status, 'cancelled', 'a late result does not revive a cancelled run');
      assert.deepEqual(h.events.filter((e) => e.kind === 'cancelled').length, 3);
    } finally {
      h.close();
    }
  });
});

describe('step results and failure policies', () => {
  test('a failed step fails the run with "Step N failed: <output>"', async () => {
    const h = await fresh([sop('f', { steps: [builtin(1), builtin(2), builtin(3)] })]);
    h.executor.script.push({ status: 'completed', output: 'one' }, { status: 'failed', output: 'disk full' });
    try {
      const r = await h.engine.startRun('f', manual());
      assert.ok(r.ok);
      await settle();
      const run = h.engine.getRun(r.run.run_id)!;
      assert.equal(run.status, 'failed');
      assert.equal(run.reason, 'Step 2 failed: disk full');
      assert.equal(run.step_results.length, 2);
      assert.equal(h.executor.calls.length, 2, 'step 3 never ran');
    } finally {
      h.close();
    }
  });

  test('a 64 KiB failed output: the reason quotes its first 200 bytes with a marker, the step result and the ledger keep what they should', async () => {
    const h = await fresh([sop('loud', { steps: [builtin(1)] })]);
    const output = `${'é'.repeat(150)}\x1b[31m\x00${'x'.repeat(65_536)}`.slice(0, 65_536);
    h.executor.script.push({ status: 'failed', output });
    try {
      const r = await h.engine.startRun('loud', manual());
      assert.ok(r.ok);
      await settle();
      const run = h.engine.getRun(r.run.run_id)!;
      assert.equal(run.status, 'failed');
      assert.equal(run.reason, `Step 1 failed: ${'é'.repeat(100)}… [cut, ${Buffer.byteLength(output)} bytes in all]`);
      assert.equal(run.step_results[0]!.output, output, 'the step result has the whole output');
      const failed = h.engine.ledger(r.run.run_id).find((e) => e.kind === 'failed')!;
      assert.equal(failed.detail, run.reason);
    } finally {
      h.close();
    }
  });

  test('continue moves on; retry N re-runs up to N more times', async () => {
    const h = await fresh([
      sop('c', { steps: [builtin(1, 'a', { on_failure: { policy: 'continue' } }), builtin(2, 'b')] }),
      sop('r', { steps: [builtin(1, 'x', { on_failure: { policy: 'retry', retries: 2 } })] }),
      sop('r2', { steps: [builtin(1, 'y', { on_failure: { policy: 'retry', retries: 2 } })] }),
    ]);
    try {
      h.executor.script.push({ status: 'failed', output: 'nope' });
      const c = await h.engine.startRun('c', manual());
      await settle();
      assert.ok(c.ok);
      const cr = h.engine.getRun(c.run.run_id)!;
      assert.equal(cr.status, 'completed');
      assert.deepEqual(cr.step_results.map((s) => s.status), ['failed', 'completed']);

      h.executor.script.push({ status: 'failed', output: 'e1' }, { status: 'failed', output: 'e2' }, { status: 'completed', output: 'third time' });
      const r = await h.engine.startRun('r', manual());
      await settle();
      assert.ok(r.ok);
      assert.equal(h.engine.getRun(r.run.run_id)!.status, 'completed');
      assert.equal(h.engine.getRun(r.run.run_id)!.step_results[0]!.output, 'third time');
      assert.equal(ledgerKinds(h, r.run.run_id).filter((k) => k === 'retry').length, 2);

      h.executor.script.push({ status: 'failed', output: 'e1' }, { status: 'failed', output: 'e2' }, { status: 'failed', output: 'e3' });
      const r2 = await h.engine.startRun('r2', manual());
      await settle();
      assert.ok(r2.ok);
      const failed = h.engine.getRun(r2.run.run_id)!;
      assert.equal(failed.status, 'failed');
      assert.equal(failed.reason, 'Step 1 failed: e3');
    } finally {
      h.close();
    }
  });

  test('external steps: the step event carries the context; skipped moves on', async () => {
    const h = await fresh([sop('ext', { priority: 'high', steps: [step(1, { title: 'Check the door', body: 'Look at it.', suggested_tools: ['camera'] }), step(2)] })]);
    try {
      const r = await h.engine.startRun('ext', { source: 'mqtt', topic: 'door/1', payload: '{"open":true}', timestamp: '2026-01-01T00:00:00.000Z' });
      assert.ok(r.ok);
      const stepEvent = h.events.find((e) => e.kind === 'step')!;
      assert.equal(stepEvent.step!.title, 'Check the door');
      assert.match(stepEvent.step!.text, /SOP ext \(high priority\), run .*\nStep 1 of 2: Check the door\nTrigger: mqtt door\/1, payload \{"open":true\}/);
      assert.match(stepEvent.step!.text, /Suggested tools: camera/);
      await h.engine.advance(r.run.run_id, { status: 'skipped', output: 'door was closed' }, 'mqtt');
      const second = h.events.filter((e) => e.kind === 'step')[1]!;
      assert.match(second.step!.text, /Previous step 1: skipped: door was closed/);
      await h.engine.advance(r.run.run_id, { status: 'completed' }, 'api');
      assert.equal(h.engine.getRun(r.run.run_id)!.status, 'completed');
      assert.deepEqual(h.events.map((e) => e.kind), ['started', 'step', 'step', 'completed']);
    } finally {
      h.close();
    }
  });
});

describe('approval timeout', () => {
  for (const [priority, approves] of [['critical', true], ['high', true], ['normal', false], ['low', false]] as const) {
    test(`${priority}: ${approves ? 'approved by the timeout' : 'keeps waiting'}`, async () => {
      const h = await fresh([sop('s', { mode: 'step_by_step', priority, steps: [builtin(1)] })], { approvalTimeoutSecs: 300 });
      try {
        const r = await h.engine.startRun('s', manual());
        assert.ok(r.ok);
        h.clock.advance(299_999);
        assert.equal(h.engine.getRun(r.run.run_id)!.status, 'waiting_approval');
        h.clock.advance(1);
        await settle();
        assert.equal(h.engine.getRun(r.run.run_id)!.status, approves ? 'completed' : 'waiting_approval');
        const approved = h.store.ledger(r.run.run_id).find((e) => e.kind === 'approved');
        if (approves) {
          assert.equal(approved?.actor, 'timeout');
          assert.match(approved!.detail!, /approved automatically after 300s/);
        } else {
          assert.equal(approved, undefined);
          assert.equal(h.clock.pending, 0, 'no timer armed');
        }
      } finally {
        h.close();
      }
    });
  }

  test('requires_confirmation is never approved by the timeout, even for critical', async () => {
    const h = await fresh([sop('s', { mode: 'auto', priority: 'critical', steps: [builtin(1, 'x', { requires_confirmation: true })] })]);
    try {
      const r = await h.engine.startRun('s', manual());
      assert.ok(r.ok);
      h.clock.advance(3_600_000);
      assert.equal(h.engine.getRun(r.run.run_id)!.status, 'waiting_approval');
    } finally {
      h.close();
    }
  });

  test('0 means never', async () => {
    const h = await fresh([sop('s', { mode: 'supervised', priority: 'critical', steps: [builtin(1)] })], { approvalTimeoutSecs: 0 });
    try {
      const r = await h.engine.startRun('s', manual());
      assert.ok(r.ok);
      h.clock.advance(86_400_000);
      assert.equal(h.engine.getRun(r.run.run_id)!.status, 'waiting_approval');
    } finally {
      h.close();
    }
  });
});

describe('run ids and pruning', () => {
  test('run ids are unique for runs started in the same millisecond', async () => {
    const h = await fresh([sop('m', { steps: [step(1)], maxConcurrent: 1000 })], { maxConcurrentTotal: 1000 });
    try {
      const ids = new Set<string>();
      for (let i = 0; i < 500; i++) {
        const r = await h.engine.startRun('m', manual());
        assert.ok(r.ok);
        ids.add(r.run.run_id);
      }
      assert.equal(ids.size, 500);
    } finally {
      h.close();
    }
  });

  test('finished runs beyond max_finished_runs are pruned oldest first; cooldown survives pruning', async () => {
    const h = await fresh([sop('p', { steps: [builtin(1)] }), sop('cool', { steps: [builtin(1)], cooldown: 3600 })], { maxFinishedRuns: 3 });
    try {
      const cool = await h.engine.startRun('cool', manual());
      await settle();
      assert.ok(cool.ok);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await h.engine.startRun('p', manual());
        assert.ok(r.ok);
        ids.push(r.run.run_id);
        await settle();
      }
      const kept = h.engine.listRuns().map((r) => r.run_id);
      assert.deepEqual(kept, ids.slice(2).reverse(), 'newest first, the oldest three gone');
      assert.equal(h.engine.getRun(cool.run.run_id), null, 'the cool run was pruned');
      const again = await h.engine.startRun('cool', manual());
      assert.ok(!again.ok);
      assert.equal(again.reason, 'cooldown');
    } finally {
      h.close();
    }
  });

  test('pruning goes a batch at a time: up to a sixteenth more runs are kept, then the oldest go at once', async () => {
    assert.deepEqual([0, 3, 16, 64, 1000, 100_000].map((max) => pruneBatch(max, RUN_BATCH)), [1, 1, 1, 4, 62, 64]);
    const h = await fresh([sop('p', { steps: [builtin(1)] })], { maxFinishedRuns: 64 });
    try {
      const ids: string[] = [];
      const runOne = async () => {
        const r = await h.engine.startRun('p', manual());
        assert.ok(r.ok);
        ids.push(r.run.run_id);
        await settle();
      };
      for (let i = 0; i < 67; i++) await runOne();
      assert.equal(h.store.countFinished(), 67, 'three beyond the limit are kept until a batch of four is due');
      await runOne();
      assert.equal(h.store.countFinished(), 64, 'the fourth prunes the batch');
      const kept = h.engine.listRuns({ limit: 1000 }).map((r) => r.run_id);
      assert.deepEqual(kept, ids.slice(4).reverse(), 'the four oldest went');
    } finally {
      h.close();
    }
  });
});

describe('log steps run inline (no commit of their own)', () => {
  /** A store whose fdatasyncs wait until the test lets them return. */
  async function heldStore() {
    const sub = `${dir}/inline${++n}`;
    await mkdir(sub);
    return heldSyncStore(`${sub}/sopgate.db`);
  }
  const log = (number: number, message: string) => builtin(number, message);
  const logged = (logger: ReturnType<typeof memoryLogger>) => logger.lines.filter((l) => l.includes('[sop:'));

  test('a run of log steps is one transaction and one fdatasync; the lines are written once it is durable', async () => {
    const s = await heldStore();
    const logger = memoryLogger();
    const clock = new ManualClock();
    const h = await fresh([sop('alert', { steps: [log(1, 'reading {{payload.v}}'), log(2, 'step 1 said: {{steps.1.output}}')] })], {
      store: s.store,
      clock,
      executors: { log: createLogExecutor({ clock, logger }) },
    });
    try {
      const started = h.engine.startRun('alert', manual('{"v": 91}'));
      h.engine.flush();
      await s.syncing();
      assert.equal(s.held.length, 1);
      assert.deepEqual(logged(logger), [], 'nothing logged before the transaction is durable');
      assert.equal(h.events.length, 0, 'nobody told either');
      s.release();
      const r = await started;
      assert.ok(r.ok);
      assert.equal(r.run.status, 'completed');
      assert.deepEqual(r.run.step_results.map((x) => x.output), ['reading 91', 'step 1 said: reading 91']);
      assert.deepEqual(logged(logger), ['info [sop:alert] reading 91', 'info [sop:alert] step 1 said: reading 91']);
      assert.deepEqual(h.events.map((e) => e.kind), ['started', 'completed']);
      assert.deepEqual(ledgerKinds(h, r.run.run_id), ['started', 'step_started', 'step_finished', 'step_started', 'step_finished', 'completed']);
      assert.equal(h.engine.stats().commits, 1, 'start, both steps and the end in one transaction');
      assert.equal(s.store.sync!.takeStats().syncs, 1, 'and one fdatasync');
      assert.equal(s.store.getRun(r.run.run_id)!.status, 'completed');
    } finally {
      h.close();
    }
  });

  test('after 32 log steps in one transaction the next is launched as usual, and the rest go inline again', async () => {
    const logger = memoryLogger();
    const clock = new ManualClock();
    const steps = Array.from({ length: 40 }, (_, i) => log(i + 1, `line ${i + 1}`));
    const h = await fresh([sop('long', { steps })], { clock, executors: { log: createLogExecutor({ clock, logger }) } });
    try {
      const r = await h.engine.startRun('long', manual());
      assert.ok(r.ok);
      assert.equal(r.run.status, 'running');
      assert.equal(r.run.current_step, 33, 'stopped before step 33');
      await settle();
      const run = h.engine.getRun(r.run.run_id)!;
      assert.equal(run.status, 'completed');
      assert.equal(run.step_results.length, 40);
      assert.equal(logged(logger).length, 40);
      assert.equal(h.engine.stats().commits, 2);
    } finally {
      h.close();
    }
  });

  test('a log step behind an approval gate runs inline with the approval', async () => {
    const logger = memoryLogger();
    const clock = new ManualClock();
    const h = await fresh([sop('gated', { mode: 'supervised', steps: [log(1, 'approved')] })], { clock, executors: { log: createLogExecutor({ clock, logger }) } });
    try {
      const r = await h.engine.startRun('gated', manual());
      assert.ok(r.ok);
      assert.equal(r.run.status, 'waiting_approval');
      assert.deepEqual(logged(logger), []);
      const a = await h.engine.approve(r.run.run_id, 'api');
      assert.ok(a.ok);
      assert.equal(a.run.status, 'completed', 'done by the time the approval is durable');
      assert.deepEqual(logged(logger), ['info [sop:gated] approved']);
    } finally {
      h.close();
    }
  });
});
