// Durability: a restarted engine (and one whose process was killed with SIGKILL) picks up
// every non-terminal run from the SQLite file.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { ManualClock } from './helpers/clock.js';
import { crashSops } from './fixtures/crash-sops.js';
import { builtin, harness, manual, settle, sop, step, TestExecutor } from './helpers/engine.js';
import { WAIT_MS, withTimeout } from './helpers/process.js';
import { removeTree, tempDir } from './helpers/workspace.js';
import { isoTime } from '../src/core/time.js';

let dir: string;
let n = 0;
before(async () => {
  dir = await tempDir('sopgate-restart-');
});
after(() => removeTree(dir));

async function folder(): Promise<string> {
  const sub = `${dir}/d${++n}`;
  await mkdir(sub);
  return sub;
}

describe('engine restart', () => {
  test('a waiting run keeps waiting, and its approval timer counts from the stored waiting_since', async () => {
    const sops = [sop('gate', { mode: 'supervised', priority: 'high', steps: [builtin(1)] })];
    const clock = new ManualClock();
    let h = harness(await folder(), sops, { clock });
    const r = await h.engine.startRun('gate', manual());
    assert.ok(r.ok);
    const waitingSince = h.engine.getRun(r.run.run_id)!.waiting_since;
    clock.advance(100_000);
    h = h.reopen();
    try {
      const run = h.engine.getRun(r.run.run_id)!;
      assert.equal(run.status, 'waiting_approval');
      assert.equal(run.waiting_since, waitingSince);
      clock.advance(199_999);
      assert.equal(h.engine.getRun(r.run.run_id)!.status, 'waiting_approval');
      clock.advance(1);
      await settle();
      assert.equal(h.engine.getRun(r.run.run_id)!.status, 'completed', 'approved 300 s after waiting began, not after the restart');
    } finally {
      h.close();
    }
  });

  test('cooldowns and concurrency counts hold across a restart', async () => {
    const sops = [sop('cool', { steps: [builtin(1)], cooldown: 600 }), sop('ext', { steps: [step(1)] })];
    let h = harness(await folder(), sops);
    assert.ok((await h.engine.startRun('cool', manual())).ok);
    const ext = await h.engine.startRun('ext', manual());
    assert.ok(ext.ok);
    await settle();
    h = h.reopen();
    try {
      const cool = await h.engine.startRun('cool', manual());
      assert.ok(!cool.ok);
      assert.equal(cool.reason, 'cooldown');
      const again = await h.engine.startRun('ext', manual());
      assert.ok(!again.ok);
      assert.equal(again.reason, 'concurrency', 'the restored external run still counts');
      assert.ok((await h.engine.advance(ext.run.run_id, { status: 'completed' }, 'api')).ok);
      assert.equal(h.engine.getRun(ext.run.run_id)!.status, 'completed');
    } finally {
      h.close();
    }
  });

  test('a run whose definition changed keeps the one it started with', async () => {
    const d = await folder();
    const h = harness(d, [sop('s', { mode: 'supervised', steps: [builtin(1, 'old')] })]);
    const r = await h.engine.startRun('s', manual());
    assert.ok(r.ok);
    h.engine.setSops([sop('s', { mode: 'supervised', steps: [builtin(1, 'new'), builtin(2, 'new 2')] })]);
    await h.engine.approve(r.run.run_id, 'cli');
    await settle();
    assert.deepEqual(h.executor.calls.map((c) => c.message), ['old']);
    assert.equal(h.engine.getRun(r.run.run_id)!.total_steps, 1);
    h.close();
  });
});

describe('engine crash (SIGKILL mid-run)', () => {
  test('every non-terminal run is restored; the interrupted built-in step re-executes once', async () => {
    const d = await folder();
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/engine-crash-child.ts', `${d}/sopgate.db`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const line = await withTimeout(
      new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout! }).once('line', resolve);
        child.once('exit', (code) => reject(new Error(`child exited early (${code})`)));
      }),
      WAIT_MS,
      'the child to report its runs',
    );
    const ids = JSON.parse(line) as Record<'gate' | 'external' | 'executing' | 'cool', string>;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;

    const executor = new TestExecutor();
    const h = harness(d, crashSops, { clock: new ManualClock(Date.now()), executor, executors: { log: executor, shell: executor } });
    try {
      assert.equal(h.engine.getRun(ids.gate)!.status, 'waiting_approval');
      assert.equal(h.engine.getRun(ids.cool)!.status, 'completed');
      const external = h.engine.getRun(ids.external)!;
      assert.equal(external.status, 'running');
      assert.equal(external.current_step, 2);
      assert.equal(external.step_results.length, 1);

      await settle();
      assert.deepEqual(
        executor.calls.map((c) => [c.ctx.runId, c.ctx.stepNumber]),
        [
          [ids.executing, 1],
          [ids.executing, 2],
        ],
        'the interrupted step re-executed once, then the run went on; nothing else ran again',
      );
      assert.deepEqual(
        h.store.ledger(ids.executing).map((e) => e.kind),
        ['started', 'step_started', 'resumed', 'step_finished', 'step_started', 'step_finished', 'completed'],
      );
      assert.equal(h.engine.getRun(ids.executing)!.status, 'completed');

      const cool = await h.engine.startRun('cool', manual());
      assert.ok(!cool.ok);
      assert.equal(cool.reason, 'cooldown');
      const gate = await h.engine.startRun('gate', manual());
      assert.ok(!gate.ok);
      assert.equal(gate.reason, 'concurrency');
      assert.ok((await h.engine.advance(ids.external, { status: 'completed', output: 'done' }, 'api')).ok);
      assert.ok((await h.engine.approve(ids.gate, 'cli')).ok);
      await settle();
      assert.equal(h.engine.getRun(ids.gate)!.status, 'completed');
    } finally {
      h.close();
    }
  });
});

describe('a run whose stored definition is gone', () => {
  test('fails at restart instead of hanging as active', async () => {
    const d = await folder();
    let h = harness(d, [sop('s', { mode: 'supervised', steps: [builtin(1)] })]);
    const r = await h.engine.startRun('s', manual());
    assert.ok(r.ok);
    h.engine.stop();
    // Simulate a hand-edited database: the snapshot row disappears.
    h.store.db.pragma('foreign_keys = OFF');
    h.store.db.prepare('DELETE FROM sop_snapshots').run();
    h.store.close();
    h = harness(d, [sop('s', { mode: 'supervised', steps: [builtin(1)] })]);
    try {
      const run = h.engine.getRun(r.run.run_id)!;
      assert.equal(run.status, 'failed');
      assert.equal(run.reason, 'its SOP definition is missing from the database');
      assert.equal(h.engine.stats().active, 0);
      assert.ok((await h.engine.startRun('s', manual())).ok, 'it no longer counts against max_concurrent');
    } finally {
      h.close();
    }
  });
});

describe('a resumed step', () => {
  test('records when its new attempt started, not when it ended', async () => {
    const clock = new ManualClock();
    const start = clock.now();
    const executor = new TestExecutor(false);
    let h = harness(await folder(), [sop('b', { steps: [builtin(1)] })], { clock, executor });
    const r = await h.engine.startRun('b', manual());
    assert.ok(r.ok);
    await settle();
    clock.advance(5_000);
    h = h.reopen();
    try {
      clock.advance(2_000);
      assert.equal(executor.calls.length, 2, 'launched again after the restart');
      executor.calls[1]!.settle({ status: 'completed', output: 'ok' });
      await settle();
      const result = h.engine.getRun(r.run.run_id)!.step_results[0]!;
      assert.deepEqual([result.started_at, result.completed_at], [isoTime(start + 5_000), isoTime(start + 7_000)]);
    } finally {
      h.close();
    }
  });
});

describe('the wall clock jumps', () => {
  const DAY = 86_400_000;

  test('set back after a run finished "in the future": a cooldown lasts cooldown_secs, also after a restart', async () => {
    const clock = new ManualClock();
    let h = harness(await folder(), [sop('cool', { steps: [builtin(1)], cooldown: 60 })], { clock });
    try {
      const cooldownLeft = async () => {
        const r = await h.engine.startRun('cool', manual());
        await settle();
        return r.ok ? 0 : r.reason === 'cooldown' ? r.retryAfterSecs : r.reason;
      };
      clock.jump(DAY);
      assert.equal(await cooldownLeft(), 0);
      clock.jump(-DAY);
      assert.equal(await cooldownLeft(), 60, 'counted from now, not from a finish a day ahead');
      h = h.reopen();
      assert.equal(await cooldownLeft(), 60, 'after a restart too');
      clock.advance(60_000);
      assert.equal(await cooldownLeft(), 0, 'over after 60 s');
      clock.advance(120_000);
      h = h.reopen();
      assert.equal(await cooldownLeft(), 0, 'the latest finish is the one stored, though earlier by the clock than the first');
    } finally {
      h.close();
    }
  });

  test('a wait that began "in the future" is approved by the timeout after approval_timeout_secs, not a day later', async () => {
    const clock = new ManualClock();
    let h = harness(await folder(), [sop('gate', { mode: 'supervised', priority: 'critical', steps: [builtin(1)] })], { clock });
    const r = await h.engine.startRun('gate', manual());
    assert.ok(r.ok);
    clock.jump(-DAY);
    h = h.reopen();
    try {
      clock.advance(300_000);
      await settle();
      assert.equal(h.engine.getRun(r.run.run_id)!.status, 'completed');
    } finally {
      h.close();
    }
  });
});
