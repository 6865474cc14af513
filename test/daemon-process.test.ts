// The daemon as the operator runs it: the bundle in a child process (from a folder laid
// out like `npm install --omit=dev` output), real signals, real sockets on port 0 and a
// real SQLite file that outlives a SIGKILL.
import assert from 'node:assert/strict';
import { chmod, readdir, readFile, rename, writeFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import mqtt from 'mqtt';
import { logStep, logSteps, pidThenSleepStep, sopToml, stepsMd } from './helpers/fixtures.js';
import { TOKEN } from './helpers/http.js';
import { packagedDaemons, startedShells } from './helpers/packaged.js';
import { cleanEnv, runNode, until, WAIT_MS, withTimeout, type DaemonProcess } from './helpers/process.js';

const packaged = packagedDaemons();
const { cleanup, daemon, workspace } = packaged;

async function terminate(d: DaemonProcess): Promise<void> {
  d.child.kill('SIGTERM');
  const exit = await withTimeout(d.exited, WAIT_MS, 'the daemon to exit after SIGTERM');
  assert.deepEqual(exit, { code: 0, signal: null }, d.lines.join('\n') + d.stderr());
}

/** A run's step 1 records its shell's pid (its process group) in <sop folder>/started.pids, then sleeps. */
const SLOW_MD = stepsMd(pidThenSleepStep(1), logStep(2, 'slept'));

const runLine = (sop: string, id: string, kind: string) => new RegExp(`^info \\[run\\] ${sop} ${id} ${kind}\\b`);

describe('the daemon process', () => {
  test('SIGTERM stops gracefully: the request in flight is answered, MQTT clients are closed, exit 0', async () => {
    const ws = await workspace({
      'sops/deploy/SOP.toml': sopToml('deploy', 'execution_mode = "supervised"'),
      'sops/deploy/SOP.md': logSteps('shipped'),
    });
    // Type=notify without systemd: a systemd-notify on PATH that records what it was told.
    const bin = join(ws.root, 'bin');
    const notifyLog = join(ws.root, 'notify.log');
    await mkdir(bin);
    await writeFile(join(bin, 'systemd-notify'), `#!/bin/sh\nprintf '%s\\n' "$*" >> "${notifyLog}"\n`);
    await chmod(join(bin, 'systemd-notify'), 0o755);
    const d = await daemon(ws.config, {
      env: cleanEnv({ PATH: `${bin}:${process.env.PATH}`, NOTIFY_SOCKET: join(ws.root, 'notify.sock'), WATCHDOG_USEC: '2000000' }),
    });
    const notified = (what: string) =>
      until(async () => {
        const text = existsSync(notifyLog) ? await readFile(notifyLog, 'utf8') : '';
        return text.includes(what) ? text : undefined;
      }, `systemd-notify ${what}`);
    await notified('--ready');
    await notified('WATCHDOG=1');

    const client = await withTimeout(mqtt.connectAsync(`mqtt://127.0.0.1:${d.mqtt}`, { reconnectPeriod: 0 }), WAIT_MS, 'the MQTT connection');
    const clientClosed = new Promise<void>((resolve) => client.once('close', () => resolve()));

    // A request whose headers the server has read (it answered 100 Continue) but whose body is still coming.
    const body = JSON.stringify({ version: '2.0', note: 'sent across the shutdown' });
    const req = request({
      host: '127.0.0.1',
      port: d.http,
      method: 'POST',
      path: '/api/sops/deploy/execute',
      agent: false,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), expect: '100-continue' },
    });
    const response = new Promise<{ res: IncomingMessage; text: string }>((resolve, reject) => {
      req.once('error', reject);
      req.once('response', (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (s: string) => (text += s));
        res.once('end', () => resolve({ res, text }));
        res.once('error', reject);
      });
    });
    await withTimeout(new Promise<void>((resolve) => req.once('continue', () => resolve())), WAIT_MS, '100 Continue');
    req.write(body.slice(0, 10));

    d.child.kill('SIGTERM');
    await d.waitForLine(/^info \[daemon\] stopping$/);
    await withTimeout(clientClosed, WAIT_MS, 'the broker to close the MQTT connection');
    req.end(body.slice(10));
    const { res, text } = await withTimeout(response, WAIT_MS, 'the answer to the request in flight');
    assert.equal(res.statusCode, 201, text);
    assert.equal(res.headers.connection, 'close', 'a stopping server asks the client to close');
    const run = JSON.parse(text);
    assert.equal(run.status, 'waiting_approval');

    const exit = await withTimeout(d.exited, WAIT_MS, 'the daemon to exit');
    assert.deepEqual(exit, { code: 0, signal: null }, d.lines.join('\n') + d.stderr());
    assert.equal(d.stderr(), '');
    const at = (re: RegExp) => d.lines.findIndex((l) => re.test(l));
    assert.ok(at(/^info \[\w+\] SIGTERM: shutting down$/) >= 0, d.lines.join('\n'));
    assert.ok(at(/^info \[daemon\] stopping$/) < at(/^info \[daemon\] stopped$/), 'stopping, then stopped');
    assert.equal(at(/^info \[daemon\] stopped$/), d.lines.length - 1, 'stopped is the last line');
    assert.ok(!client.connected);
    await notified('--stopping');

    // The run accepted during the shutdown was committed before the database closed.
    const again = await daemon(ws.config);
    const stored = await again.api('GET', `/api/runs/${run.run_id}`);
    assert.equal(stored.status, 200);
    assert.equal(stored.body.status, 'waiting_approval');
    assert.equal(stored.body.trigger_event.payload, body);
    await terminate(again);
  });

  test('SIGHUP reloads: a broken SOP is left out, a new one is served, the old ones keep working', async () => {
    const ws = await workspace({
      'sops/alpha/SOP.toml': sopToml('alpha', 'execution_mode = "auto"'),
      'sops/alpha/SOP.md': logSteps('alpha ran'),
      'sops/deploy/SOP.toml': sopToml('deploy', 'execution_mode = "supervised"'),
      'sops/deploy/SOP.md': logSteps('old'),
    });
    const d = await daemon(ws.config);
    assert.match(d.lines.join('\n'), /ready: .*2 SOP\(s\) loaded/);
    const waiting = await d.api('POST', '/api/sops/deploy/execute');
    assert.equal(waiting.status, 201);
    assert.equal(waiting.body.status, 'waiting_approval');

    await mkdir(join(ws.root, 'sops/broken'));
    await writeFile(join(ws.root, 'sops/broken/SOP.toml'), sopToml('broken', 'priority = "urgent"'));
    await writeFile(join(ws.root, 'sops/broken/SOP.md'), logSteps('never'));
    await mkdir(join(ws.root, 'sops/fresh'));
    await writeFile(join(ws.root, 'sops/fresh/SOP.toml'), sopToml('fresh', 'execution_mode = "auto"'));
    await writeFile(join(ws.root, 'sops/fresh/SOP.md'), logSteps('fresh ran'));
    // The definition of deploy changes under its waiting run.
    await writeFile(join(ws.root, 'sops/deploy/SOP.md'), logSteps('new 1', 'new 2'));

    d.child.kill('SIGHUP');
    await d.waitForLine(/^info \[daemon\] reloaded: 3 SOP\(s\), 1 left out$/);
    assert.ok(d.lines.some((l) => /^error \[sops\] SOP broken left out: .*SOP\.toml:\d+: .*priority/.test(l)), d.lines.join('\n'));

    const sops = await d.api('GET', '/api/sops');
    assert.deepEqual(sops.body.map((s: { name: string }) => s.name).sort(), ['alpha', 'deploy', 'fresh']);
    assert.equal((await d.api('POST', '/api/sops/broken/execute')).status, 404);

    for (const name of ['alpha', 'fresh']) {
      const started = await d.api('POST', `/api/sops/${name}/execute`);
      assert.equal(started.status, 201, JSON.stringify(started.body));
      await d.waitForLine(runLine(name, started.body.run_id, 'completed'));
      const done = await d.api('GET', `/api/runs/${started.body.run_id}`);
      assert.deepEqual(done.body.step_results.map((r: { output: string }) => r.output), [`${name} ran`]);
    }

    // The run that waited across the reload finishes with the definition it started with.
    const approved = await d.api('POST', `/api/runs/${waiting.body.run_id}/approve`);
    assert.equal(approved.status, 200, JSON.stringify(approved.body));
    await d.waitForLine(runLine('deploy', waiting.body.run_id, 'completed'));
    const old = await d.api('GET', `/api/runs/${waiting.body.run_id}`);
    assert.deepEqual(old.body.step_results.map((r: { output: string }) => r.output), ['old']);
    const next = await d.api('POST', '/api/sops/deploy/execute');
    assert.equal(next.body.total_steps, 2, 'a new run gets the new definition');

    assert.equal(d.child.exitCode, null, 'SIGHUP does not stop the daemon');
    await terminate(d);
  });

  test('kill -9 mid-run, then restart: waiting and executing runs are restored, cooldowns hold', async () => {
    const ws = await workspace({
      'sops/gate/SOP.toml': sopToml('gate', 'execution_mode = "supervised"'),
      'sops/gate/SOP.md': logSteps('approved'),
      'sops/slow/SOP.toml': sopToml('slow', 'execution_mode = "auto"'),
      'sops/slow/SOP.md': SLOW_MD,
      'sops/cool/SOP.toml': sopToml('cool', 'execution_mode = "auto"\ncooldown_secs = 3600'),
      'sops/cool/SOP.md': logSteps('cooled'),
    });
    // The first shell is orphaned by the SIGKILL: its process group is killed after the tests.
    const shells = startedShells(join(ws.root, 'sops/slow'), cleanup);

    const first = await daemon(ws.config);
    const cool = await first.api('POST', '/api/sops/cool/execute');
    assert.equal(cool.status, 201);
    await first.waitForLine(runLine('cool', cool.body.run_id, 'completed'));
    assert.equal((await first.api('POST', '/api/sops/cool/execute')).body.error, 'cooldown');

    const gate = await first.api('POST', '/api/sops/gate/execute');
    assert.equal(gate.body.status, 'waiting_approval');
    const waitingSince = gate.body.waiting_since;
    assert.equal(typeof waitingSince, 'string');
    const slow = await first.api('POST', '/api/sops/slow/execute');
    assert.equal(slow.status, 201);
    const [firstPid] = await shells.atLeast(1);

    first.child.kill('SIGKILL');
    assert.deepEqual(await withTimeout(first.exited, WAIT_MS, 'the killed daemon to exit'), { code: null, signal: 'SIGKILL' });

    const second = await daemon(ws.config);
    await second.waitForLine(/restored 2 active run\(s\)/);

    const restoredGate = await second.api('GET', `/api/runs/${gate.body.run_id}`);
    assert.equal(restoredGate.body.status, 'waiting_approval');
    assert.equal(restoredGate.body.waiting_since, waitingSince);

    // The interrupted shell step runs again: a second shell records its pid.
    const [, secondPid] = await shells.atLeast(2);
    assert.notEqual(secondPid, firstPid);
    const restoredSlow = await second.api('GET', `/api/runs/${slow.body.run_id}`);
    assert.equal(restoredSlow.body.status, 'running');
    assert.equal(restoredSlow.body.current_step, 1);
    assert.deepEqual(restoredSlow.body.step_results, []);

    const refused = await second.api('POST', '/api/sops/cool/execute');
    assert.equal(refused.status, 409);
    assert.equal(refused.body.error, 'cooldown');
    assert.ok(Number(refused.headers.get('retry-after')) > 3500, `retry-after ${refused.headers.get('retry-after')}`);

    const approved = await second.api('POST', `/api/runs/${gate.body.run_id}/approve`);
    assert.equal(approved.status, 200, JSON.stringify(approved.body));
    await second.waitForLine(runLine('gate', gate.body.run_id, 'completed'));

    const cancelled = await second.api('POST', `/api/runs/${slow.body.run_id}/cancel`);
    assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
    assert.equal(cancelled.body.status, 'cancelled');
    // Cancelling kills the re-executed shell's process group.
    await until(async () => {
      try {
        process.kill(secondPid!, 0);
        return undefined;
      } catch {
        return true;
      }
    }, 'the re-executed shell to be killed');
    await terminate(second);
  });

  test('the bundle runs from a folder with only dist/, package.json and the production dependencies', async () => {
    const pkg = packaged.pkg;
    assert.deepEqual((await readdir(pkg.dir)).sort(), ['dist', 'node_modules', 'package.json']);
    assert.deepEqual((await readdir(join(pkg.dir, 'dist'))).sort(), ['mqtt-client.cjs', 'sopgate.cjs']);
    const installed = await readdir(join(pkg.dir, 'node_modules'));
    assert.ok(installed.includes('better-sqlite3'));
    for (const dev of ['aedes', 'mqtt', 'croner', 'smol-toml', 'mdast-util-from-markdown', 'esbuild', 'tsx', 'typescript']) {
      assert.ok(!installed.includes(dev), `${dev} is bundled, not installed`);
    }
    // Top-level entries are exactly the closure's top-level packages (a scope folder for @scope/name).
    const topLevel = new Set(pkg.closure.filter((p) => !p.includes('/node_modules/', 1)).map((p) => p.split('/')[1]!));
    assert.deepEqual(installed.sort(), [...topLevel].sort());
    // Nothing above the folder could supply a missing module.
    for (let dir = dirname(pkg.dir); dir !== dirname(dir); dir = dirname(dir)) assert.ok(!existsSync(join(dir, 'node_modules')), `${dir}/node_modules exists`);
    assert.ok(!existsSync('/node_modules'));
    const fromBundle = createRequire(pkg.bundle);
    assert.throws(() => fromBundle.resolve('aedes'), /Cannot find module/);
    assert.ok(fromBundle.resolve('better-sqlite3').startsWith(join(pkg.dir, 'node_modules')));

    const ws = await workspace({
      'sops/hello/SOP.toml': sopToml('hello', 'execution_mode = "auto"'),
      'sops/hello/SOP.md': logSteps('hello'),
    });
    const validated = await runNode([pkg.bundle, 'validate', '--config', ws.config], { cwd: ws.root });
    assert.equal(validated.code, 0, validated.stdout + validated.stderr);
    assert.match(validated.stdout, /1 SOP checked in .*: 1 clean/);

    // The upstream's MQTT client is read only by a gateway with an [upstream]: this one starts
    // and runs without the file.
    const client = join(pkg.dir, 'dist/mqtt-client.cjs');
    await rename(client, `${client}.away`);
    packaged.cleanup(() => rename(`${client}.away`, client));
    const d = await daemon(ws.config);
    const version = JSON.parse(await readFile(join(pkg.dir, 'package.json'), 'utf8')).version;
    assert.match(d.lines.join('\n'), new RegExp(`sopgate ${version.replace(/\./g, '\\.')} ready: .*1 SOP\\(s\\) loaded`));
    const health = await fetch(`${d.base}/healthz`, { signal: AbortSignal.timeout(WAIT_MS) });
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const run = await d.api('POST', '/api/sops/hello/execute');
    assert.equal(run.status, 201);
    await d.waitForLine(runLine('hello', run.body.run_id, 'completed'));
    assert.ok(existsSync(join(ws.root, 'state/sopgate.db')), 'the native SQLite module wrote the database');
    await terminate(d);
  });
});
