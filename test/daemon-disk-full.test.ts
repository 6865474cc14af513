// A state disk that fills up, for real: the packaged daemon in a child process with its
// state_dir on a 2 MB tmpfs, filled with a file and freed again. Mounting needs root (CI
// runs as root); without it these tests are skipped and say why.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import mqtt from 'mqtt';
import { externalStep, logStep, shellStep, sopToml, stepsMd, trigger } from './helpers/fixtures.js';
import { packagedDaemons } from './helpers/packaged.js';
import { until, WAIT_MS, withTimeout, type DaemonProcess } from './helpers/process.js';

const packaged = packagedDaemons();
const { cleanup, daemon } = packaged;

const external = stepsMd(externalStep(1, 'Check', 'Someone checks by hand.'));
const logged = stepsMd(logStep(1, 'noted', 'Note'));
/** Step 1 appends a line to runs.count (in the SOP folder, off the tmpfs), then waits (20 s at most) for a file named release. */
const SLOW_MD = stepsMd(
  shellStep(1, 'echo ran >> runs.count\nfor i in $(seq 1 400); do [ -f release ] && break; sleep 0.05; done', 'Wait'),
  logStep(2, 'released', 'Note'),
);

const FILES = {
  'sops/slow/SOP.toml': sopToml('slow', 'execution_mode = "auto"'),
  'sops/slow/SOP.md': SLOW_MD,
  'sops/gated/SOP.toml': sopToml('gated', 'execution_mode = "supervised"'),
  'sops/gated/SOP.md': logged,
  'sops/victim/SOP.toml': sopToml('victim', 'execution_mode = "supervised"'),
  'sops/victim/SOP.md': logged,
  'sops/ext/SOP.toml': sopToml('ext', 'execution_mode = "auto"'),
  'sops/ext/SOP.md': external,
  'sops/single/SOP.toml': sopToml('single', 'execution_mode = "auto"\nmax_concurrent = 1'),
  'sops/single/SOP.md': external,
  'sops/hook/SOP.toml': sopToml('hook', 'execution_mode = "auto"', trigger('type = "webhook"', 'path = "/sop/hook"')),
  'sops/hook/SOP.md': external,
};

/** A workspace whose state_dir is a fresh 2 MB tmpfs; null (the test skipped) where mounting is not permitted. */
async function onSmallDisk(t: TestContext): Promise<{ root: string; config: string; state: string } | null> {
  const { root, config } = await packaged.workspace(FILES, '[engine]\nmax_concurrent_total = 10');
  const state = join(root, 'state');
  await mkdir(state);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', state], { stdio: 'pipe' });
  } catch (err) {
    t.skip(`mounting a 2 MB tmpfs for state_dir is not permitted here (needs root): ${String((err as { stderr?: unknown }).stderr ?? err).trim()}`);
    return null;
  }
  cleanup(() => void execFileSync('umount', ['-l', state], { stdio: 'pipe' }));
  return { root, config, state };
}

/** Fills the file system holding `file` to the last byte. */
function fill(file: string): void {
  const fd = openSync(file, 'w');
  try {
    for (const size of [65_536, 4_096, 1]) {
      const chunk = Buffer.alloc(size);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
    }
  } finally {
    closeSync(fd);
  }
}

async function start(d: DaemonProcess, sop: string): Promise<string> {
  const r = await d.api('POST', `/api/sops/${sop}/execute`);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.run_id as string;
}

async function health(d: DaemonProcess, status: number): Promise<any> {
  return until(async () => {
    const r = await d.api('GET', '/healthz');
    return r.status === status ? r.body : undefined;
  }, `/healthz ${status}`);
}

async function lines(file: string): Promise<number> {
  return (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
}

function assertUnavailable(r: { status: number; headers: Headers; body: any }, what: string): void {
  assert.equal(r.status, 503, `${what}: ${JSON.stringify(r.body)}`);
  assert.equal(r.body.error, 'storage_unavailable', what);
  assert.match(r.body.reason, /database or disk is full/, what);
  assert.match(r.body.message, /nothing was changed/, what);
  assert.ok(Number(r.headers.get('retry-after')) >= 1, `${what}: Retry-After`);
}

describe('a full state disk', () => {
  test('degraded, not dead: state changes 503, reads, /metrics and the broker go on; it recovers by itself and the step that ended meanwhile is not run again', async (t) => {
    const disk = await onSmallDisk(t);
    if (disk === null) return;
    const count = join(disk.root, 'sops/slow/runs.count');
    const d = await daemon(disk.config);
    const slow = await start(d, 'slow');
    const gated = await start(d, 'gated');
    const victim = await start(d, 'victim');
    const ext = await start(d, 'ext');
    await until(async () => ((await lines(count)) === 1 ? true : undefined), 'the shell step to start');

    fill(join(disk.state, 'fill'));
    await writeFile(join(disk.root, 'sops/slow/release'), ''); // the step ends while nothing can be written
    const degraded = await health(d, 503);
    assert.equal(degraded.error, 'storage_unavailable');
    assert.match(degraded.reason, /database or disk is full/);

    assertUnavailable(await d.api('POST', '/api/sops/single/execute'), 'execute');
    assertUnavailable(await d.api('POST', `/api/runs/${gated}/approve`), 'approve');
    assertUnavailable(await d.api('POST', `/api/runs/${victim}/cancel`), 'cancel');
    assertUnavailable(await d.api('POST', `/api/runs/${ext}/advance`, '{"status":"completed"}'), 'advance');
    assertUnavailable(await d.api('POST', '/sop/hook', 'payload'), 'webhook');
    assert.equal((await d.api('GET', `/api/runs/${gated}`)).body.status, 'waiting_approval');
    assert.equal((await d.api('GET', `/api/runs/${victim}`)).body.status, 'waiting_approval');
    assert.deepEqual((await d.api('GET', `/api/runs/${ext}`)).body.step_results, []);
    const shown = (await d.api('GET', `/api/runs/${slow}`)).body;
    assert.deepEqual([shown.status, shown.current_step, shown.step_results], ['running', 1, []], 'its last durable state');
    const list = await d.api('GET', '/api/runs?sop=single');
    assert.deepEqual([list.status, list.body], [200, []]);
    const metrics = await d.api('GET', '/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.body, /^sopgate_storage_available 0$/m);

    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${d.mqtt}`, { reconnectPeriod: 0 });
    try {
      const echoed = new Promise<string>((resolve) => client.on('message', (_topic, payload) => resolve(payload.toString())));
      await client.subscribeAsync('plant/echo');
      await client.publishAsync('plant/echo', 'still here');
      assert.equal(await withTimeout(echoed, WAIT_MS, 'the broker to deliver'), 'still here');
    } finally {
      await client.endAsync();
    }

    await rm(join(disk.state, 'fill'));
    await health(d, 200);
    const done = await until(async () => {
      const run = (await d.api('GET', `/api/runs/${slow}`)).body;
      return run.status === 'completed' ? run : undefined;
    }, 'the slow run to complete');
    assert.equal(done.step_results.length, 2);
    assert.equal(await lines(count), 1, 'the shell step ran once');
    assert.equal((await d.api('POST', `/api/runs/${gated}/approve`)).status, 200);
    assert.equal((await d.api('POST', `/api/runs/${victim}/cancel`)).status, 200);
    assert.equal((await d.api('POST', `/api/runs/${ext}/advance`, '{"status":"completed"}')).status, 200);
    assert.equal((await d.api('POST', '/api/sops/single/execute')).status, 201, 'no phantom active run');
    assert.match((await d.api('GET', '/metrics')).body, /^sopgate_storage_available 1$/m);
    const said = d.lines.filter((l) => /state database/.test(l));
    assert.equal(said.length, 2, `logged once when it began and once when it ended:\n${said.join('\n')}`);
    assert.deepEqual(d.lines.filter((l) => /^(warn|error) \[http\]/.test(l)), [], 'a 503 is not a warning per request');
  });

  test('a gateway killed on a full disk and started again on it comes up degraded instead of crash-looping; it stops cleanly while degraded', async (t) => {
    const disk = await onSmallDisk(t);
    if (disk === null) return;
    const count = join(disk.root, 'sops/slow/runs.count');
    const first = await daemon(disk.config);
    const slow = await start(first, 'slow');
    await until(async () => ((await lines(count)) === 1 ? true : undefined), 'the shell step to start');
    fill(join(disk.state, 'fill'));
    await first.kill();

    const second = await daemon(disk.config);
    const degraded = await health(second, 503);
    assert.match(degraded.reason, /database or disk is full/);
    assertUnavailable(await second.api('POST', '/api/sops/gated/execute'), 'execute');
    assert.equal((await second.api('GET', `/api/runs/${slow}`)).body.status, 'running');
    second.child.kill('SIGTERM');
    assert.deepEqual(await withTimeout(second.exited, WAIT_MS, 'the daemon to stop'), { code: 0, signal: null }, second.lines.join('\n') + second.stderr());

    const d = await daemon(disk.config);
    await health(d, 503);
    assert.equal(await lines(count), 1, 'the step waits for the disk');

    await writeFile(join(disk.root, 'sops/slow/release'), '');
    await rm(join(disk.state, 'fill'));
    await health(d, 200);
    await until(async () => ((await d.api('GET', `/api/runs/${slow}`)).body.status === 'completed' ? true : undefined), 'the slow run to complete');
    assert.equal(await lines(count), 2, 'the interrupted step ran again once after the restart, as after any crash');
    const exit = await Promise.race([d.exited, new Promise((resolve) => setImmediate(resolve, 'running'))]);
    assert.equal(exit, 'running');
  });
});
