import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, watch } from 'node:fs';
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from './helpers/clock.js';
import { systemClock, type Clock } from '../src/core/clock.js';
import { createShellExecutor, type ShellOptions } from '../src/executors/shell.js';
import { MAX_ENV_STRING_BYTES } from '../src/executors/shell-env.js';
import type { StepContext } from '../src/executors/types.js';
import type { GatewayEvent } from '../src/core/events.js';
import { memoryLogger } from './helpers/logger.js';
import { until } from './helpers/process.js';
import { stepContext } from './helpers/step-context.js';

let dir = '';
before(async () => {
  dir = await realpath(await mkdtemp(join(tmpdir(), 'sopgate-shell-')));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const ctx = (over: Partial<StepContext> = {}, event: Partial<GatewayEvent> = {}): StepContext =>
  stepContext({ runId: 'run-7', sopLocation: dir, stepNumber: 3, totalSteps: 4, ...over }, { topic: 'sensors/fan', ...event });

const run = (script: string, c: StepContext = ctx(), options: ShellOptions = {}, clock: Clock = systemClock) =>
  createShellExecutor({ clock, logger: memoryLogger() }, options).run({ tool: 'shell', source: script, args: {} }, c);

/** Alive and not a zombie: an orphaned zombie waits for a reaper but runs nothing. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Polls: the kernel tears processes down after the signal, with no event to await. */
async function waitGone(pids: number[]): Promise<void> {
  await until(async () => (pids.some(alive) ? undefined : true), `processes ${pids.join(', ')} to be gone`);
  assert.deepEqual(pids.filter(alive), [], 'processes still alive');
}

/** Resolves once `name` appears in the test folder: the script's "I am running" signal. */
function fileAppears(name: string): Promise<void> {
  return new Promise((resolve) => {
    const watcher = watch(dir, () => {
      if (existsSync(join(dir, name))) {
        watcher.close();
        resolve();
      }
    });
    // It may have appeared before the watch started.
    if (existsSync(join(dir, name))) {
      watcher.close();
      resolve();
    }
  });
}

/** The script announces itself by renaming a file into place once its child runs. */
const announce = (name: string) => `echo "pid $$"; sleep 30 & echo "child $!"; : > ${name}.tmp; mv ${name}.tmp ${name}; wait`;

const pidsIn = (output: string) => [...output.matchAll(/(?:pid|child) (\d+)/g)].map((m) => Number(m[1]));

describe('shell executor: data in, output out', () => {
  it('passes the payload as data in SOP_PAYLOAD, never as script text', async () => {
    const marker = join(tmpdir(), `pwned-${randomBytes(6).toString('hex')}`);
    // Harmless stand-ins for `rm -rf ~`: if spliced into the script, these would run.
    const payload = `$(touch ${marker}); touch ${marker}; \`touch ${marker}\` "'\n{{run.id}}`;
    const outcome = await run(`printf '%s' "$SOP_PAYLOAD"`, ctx({}, { payload }));
    assert.deepEqual(outcome, { status: 'completed', output: payload });
    assert.equal(existsSync(marker), false);
  });

  it('sets every SOP_* variable, empty where the event has no value', async () => {
    const script = `printf '%s|' "$SOP_PAYLOAD" "$SOP_RUN_ID" "$SOP_NAME" "$SOP_STEP" "$SOP_TRIGGER_SOURCE" "$SOP_TRIGGER_TOPIC" "$(cat "$SOP_PAYLOAD_FILE")"`;
    assert.equal((await run(script, ctx({}, { payload: '{"t":1}' }))).output, '{"t":1}|run-7|fan-alarm|3|mqtt|sensors/fan|{"t":1}|');
    const bare = ctx({ event: { source: 'manual', timestamp: '2026-01-01T00:00:00Z' } });
    const set = `printf '%s|' "\${SOP_PAYLOAD-unset}" "\${SOP_TRIGGER_TOPIC-unset}" "$SOP_TRIGGER_SOURCE"`;
    assert.equal((await run(set, bare)).output, '||manual|');
  });

  it("keeps the gateway's own environment", async () => {
    assert.equal((await run('printf %s "$PATH"')).output, process.env.PATH);
  });

  it("runs in the SOP's folder", async () => {
    assert.deepEqual(await run('pwd'), { status: 'completed', output: `${dir}\n` });
  });

  it('captures stderr with stdout', async () => {
    const outcome = await run('echo out; echo err >&2; echo more');
    assert.equal(outcome.status, 'completed');
    for (const line of ['out', 'err', 'more']) assert.match(outcome.output, new RegExp(`^${line}$`, 'm'));
  });

  it('fails on a non-zero exit code and says which', async () => {
    assert.deepEqual(await run('echo partial; exit 3'), { status: 'failed', output: 'partial\n[exit code 3]' });
    assert.deepEqual(await run('printf x; exit 1'), { status: 'failed', output: 'x\n[exit code 1]' });
  });

  it('keeps the first maxOutputBytes and counts the rest', async () => {
    const outcome = await run(`head -c 1000 /dev/zero | tr '\\0' a`, ctx(), { maxOutputBytes: 100 });
    assert.deepEqual(outcome, { status: 'completed', output: `${'a'.repeat(100)}\n[output truncated: 900 more bytes]` });
  });

  it('does not cut a UTF-8 character in half at the cap', async () => {
    const outcome = await run(`printf 'ééé'`, ctx(), { maxOutputBytes: 5 });
    assert.equal(outcome.output, 'éé\n[output truncated: 2 more bytes]');
  });
});

describe('shell executor: stopping', () => {
  it('kills the whole group on timeout (manual clock)', async () => {
    const clock = new ManualClock();
    const pending = run(announce('ready-timeout'), ctx({ timeoutSecs: 5 }), {}, clock);
    await fileAppears('ready-timeout');
    clock.advance(4999);
    assert.equal(clock.pending, 1); // only the timeout is armed, and it has not fired
    clock.advance(1);
    const outcome = await pending;
    assert.equal(outcome.status, 'failed');
    assert.match(outcome.output, /\n\[timed out after 5s\]$/);
    const pids = pidsIn(outcome.output);
    assert.equal(pids.length, 2, outcome.output);
    await waitGone(pids);
    clock.advance(2000); // the SIGKILL follow-up finds nothing left
    assert.equal(clock.pending, 0);
  });

  it('escalates to SIGKILL for a group that ignores SIGTERM (real short timeout)', async () => {
    const outcome = await run(
      `trap '' TERM; echo "pid $$"; sleep 30 & echo "child $!"; wait`,
      ctx({ timeoutSecs: 0.3 }),
      { killGraceMs: 100 },
    );
    assert.equal(outcome.status, 'failed');
    assert.match(outcome.output, /\[timed out after 0\.3s\]$/);
    const pids = pidsIn(outcome.output);
    assert.equal(pids.length, 2, outcome.output);
    await waitGone(pids);
  });

  it('uses the default timeout when the step has none', async () => {
    const outcome = await run('sleep 30', ctx(), { defaultTimeoutSecs: 0.2 });
    assert.deepEqual(outcome, { status: 'failed', output: '[timed out after 0.2s]' });
  });

  it('cancels through the signal', async () => {
    const controller = new AbortController();
    const clock = new ManualClock();
    const pending = run(announce('ready-cancel'), ctx({ signal: controller.signal }), {}, clock);
    await fileAppears('ready-cancel');
    controller.abort();
    const outcome = await pending;
    assert.equal(outcome.status, 'failed');
    assert.match(outcome.output, /\n\[cancelled\]$/);
    const pids = pidsIn(outcome.output);
    assert.equal(pids.length, 2, outcome.output);
    await waitGone(pids);
  });

  it('does not start when already cancelled', async () => {
    const marker = join(dir, 'started');
    const controller = new AbortController();
    controller.abort();
    assert.deepEqual(await run(`touch ${marker}`, ctx({ signal: controller.signal })), { status: 'failed', output: '[cancelled]' });
    assert.equal(existsSync(marker), false);
  });

  it('finishes when the script exits even if a background process holds its output, and ends that process', async () => {
    const outcome = await run('sleep 1000 & echo "child $!"');
    assert.equal(outcome.status, 'completed');
    const pids = pidsIn(outcome.output);
    assert.equal(pids.length, 1, outcome.output);
    await waitGone(pids);
  });

  it('ends background children of a step that exits 0, with SIGKILL for those that ignore SIGTERM', async () => {
    const outcome = await run(
      `sleep 1000 > /dev/null 2>&1 & echo "child $!"; (trap '' TERM; sleep 1000) > /dev/null 2>&1 & echo "child $!"; exit 0`,
      ctx(),
      { killGraceMs: 100 },
    );
    assert.equal(outcome.status, 'completed', outcome.output);
    const pids = pidsIn(outcome.output);
    assert.equal(pids.length, 2, outcome.output);
    await waitGone(pids);
  });

  it('leaves alone a child that left the group with setsid', async () => {
    // The child marks its start after setsid(); the script waits for the mark, then exits.
    const outcome = await run(
      `setsid sh -c ': > setsid.ready; exec sleep 1000' > /dev/null 2>&1 < /dev/null & echo "child $!"; while [ ! -e setsid.ready ]; do sleep 0.01; done`,
    );
    const pids = pidsIn(outcome.output);
    try {
      assert.equal(outcome.status, 'completed', outcome.output);
      assert.equal(pids.length, 1, outcome.output);
      assert.ok(alive(pids[0]!), 'the setsid child still runs');
    } finally {
      for (const pid of pids) process.kill(pid, 'SIGKILL');
    }
  });
});

describe('shell executor: failing to start', () => {
  it('reports a missing shell binary', async () => {
    const outcome = await run('echo hi', ctx(), { shell: '/nonexistent/sh' });
    assert.equal(outcome.status, 'failed');
    assert.match(outcome.output, /could not start \/nonexistent\/sh.*ENOENT/);
  });

  it('reports a missing SOP folder', async () => {
    const outcome = await run('echo hi', ctx({ sopLocation: join(dir, 'gone') }));
    assert.equal(outcome.status, 'failed');
    assert.match(outcome.output, /could not start/);
  });

});

describe('shell executor: payloads the environment cannot carry', () => {
  const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
  // Whether SOP_PAYLOAD is set and how many bytes, the payload file's hash and size, and its path.
  const probe = `if [ -n "\${SOP_PAYLOAD+x}" ]; then printf 'env %s\\n' "$(printf %s "$SOP_PAYLOAD" | wc -c)"; else echo 'env unset'; fi
sha256sum < "$SOP_PAYLOAD_FILE"; wc -c < "$SOP_PAYLOAD_FILE"; ls -l "$SOP_PAYLOAD_FILE" | cut -c1-10; echo "file $SOP_PAYLOAD_FILE"`;
  const report = (output: string) => {
    const [env, sum, size, mode, file] = output.trim().split('\n');
    return { env, sum: sum?.split(' ')[0], size: Number(size), mode, file: file?.slice('file '.length) ?? '' };
  };

  it('runs a step whose payload is over 128 KiB: SOP_PAYLOAD unset, SOP_PAYLOAD_FILE holds it, removed after the step', async () => {
    const payload = JSON.stringify({ blob: 'x'.repeat(200 * 1024) });
    const outcome = await run(probe, ctx({}, { payload }));
    assert.equal(outcome.status, 'completed', outcome.output.slice(0, 300));
    const r = report(outcome.output);
    assert.deepEqual([r.env, r.sum, r.size, r.mode], ['env unset', sha256(payload), Buffer.byteLength(payload), '-rw-------']);
    assert.ok(r.file.startsWith(tmpdir()), r.file);
    assert.equal(existsSync(r.file), false, 'the payload file is removed after the step');
  });

  it('sets SOP_PAYLOAD up to the longest environment string Linux takes, and not one byte over', async () => {
    const most = MAX_ENV_STRING_BYTES - 'SOP_PAYLOAD='.length - 1;
    const fits = await run(probe, ctx({}, { payload: 'é'.repeat(10) + 'y'.repeat(most - 20) }));
    assert.equal(fits.status, 'completed', fits.output.slice(0, 300));
    assert.equal(report(fits.output).env, `env ${most}`);
    const over = await run(probe, ctx({}, { payload: 'y'.repeat(most + 1) }));
    assert.equal(over.status, 'completed', over.output.slice(0, 300));
    assert.equal(report(over.output).env, 'env unset');
    assert.equal(report(over.output).size, most + 1);
  });

  it('runs a step whose payload or topic holds a NUL, and never quotes them', async () => {
    const payload = 'top-secret\0tail';
    const outcome = await run(`${probe}; printf 'topic %s\\n' "\${SOP_TRIGGER_TOPIC-unset}"`, ctx({}, { payload, topic: 'secret-topic\0x' }));
    assert.equal(outcome.status, 'completed', outcome.output);
    const r = report(outcome.output.replace(/topic .*\n?$/, ''));
    assert.deepEqual([r.env, r.sum, r.size], ['env unset', sha256(payload), Buffer.byteLength(payload)]);
    assert.match(outcome.output, /^topic unset$/m);
    assert.doesNotMatch(outcome.output, /secret/);
  });

  it('does not pass on a SOP_PAYLOAD of the gateway\'s own environment', async () => {
    process.env.SOP_PAYLOAD = 'inherited';
    try {
      const outcome = await run(`printf '%s' "\${SOP_PAYLOAD-unset}"`, ctx({}, { payload: 'a\0b' }));
      assert.deepEqual(outcome, { status: 'completed', output: 'unset' });
    } finally {
      delete process.env.SOP_PAYLOAD;
    }
  });

  it('fails a step whose payload file cannot be written, without starting it', async () => {
    const marker = join(dir, 'started-without-file');
    const outcome = await run(`touch ${marker}`, ctx({}, { payload: 'p' }), { tmpDir: join(dir, 'no-such-folder') });
    assert.equal(outcome.status, 'failed');
    assert.match(outcome.output, /^\[could not write the payload file: ENOENT/);
    assert.equal(existsSync(marker), false);
  });
});
