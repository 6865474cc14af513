// One daemon per state directory, with real processes: a second one on the same config
// stops at once and touches nothing; a SIGKILLed holder lets the next one in; a port in
// use stops start-up before any run is restored.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { pidThenSleepStep, sopToml, stepsMd } from './helpers/fixtures.js';
import { packagedDaemons, startedShells } from './helpers/packaged.js';
import { runNode, WAIT_MS, withTimeout } from './helpers/process.js';

const packaged = packagedDaemons();
const { cleanup, daemon } = packaged;

interface Workspace {
  root: string;
  config: string;
  state: string;
  /** The shells started so far (waits for at least `n`). */
  shells(n: number): Promise<number[]>;
}

async function workspace(): Promise<Workspace> {
  const { root, config } = await packaged.workspace({
    'sops/slow/SOP.toml': sopToml('slow', 'execution_mode = "auto"'),
    'sops/slow/SOP.md': stepsMd(pidThenSleepStep(1)),
  });
  const shells = startedShells(join(root, 'sops/slow'), cleanup);
  return { root, config, state: join(root, 'state'), shells: (n) => shells.atLeast(n) };
}

/** The audit ledger as the file holds it, read without writing. */
function ledger(state: string): { id: number; kind: string }[] {
  const db = new Database(join(state, 'sopgate.db'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT id, kind FROM ledger ORDER BY id').all() as { id: number; kind: string }[];
  } finally {
    db.close();
  }
}

/** Starts a daemon with an executing shell step, then SIGKILLs it: the run is left executing. */
async function killedMidStep(ws: Workspace): Promise<void> {
  const d = await daemon(ws.config);
  const run = await d.api('POST', '/api/sops/slow/execute');
  assert.equal(run.status, 201, JSON.stringify(run.body));
  await ws.shells(1);
  await d.kill();
}

describe('one daemon per state directory', () => {
  test('a second daemon exits 1 at once naming the state directory and the holder, and changes nothing; after a SIGKILL of the holder the next one starts', async () => {
    const ws = await workspace();
    const first = await daemon(ws.config);
    const run = await first.api('POST', '/api/sops/slow/execute');
    assert.equal(run.status, 201, JSON.stringify(run.body));
    const [shell] = await ws.shells(1);
    const ledgerBefore = ledger(ws.state);
    const filesBefore = (await readdir(ws.state)).sort();

    // Ports are 0: without the lock the second daemon would start beside the first.
    const second = await runNode([packaged.pkg.bundle, 'daemon', '--config', ws.config], { cwd: ws.root });
    const output = second.stdout + second.stderr;
    assert.equal(second.code, 1, output);
    assert.ok(output.includes(`the state directory ${ws.state} is in use by another sopgate daemon (PID ${first.child.pid})`), output);
    assert.doesNotMatch(output, /ready:|restored/);

    assert.deepEqual(ledger(ws.state), ledgerBefore, 'the ledger is unchanged');
    assert.ok(!ledger(ws.state).some((e) => e.kind === 'resumed'));
    assert.deepEqual((await readdir(ws.state)).sort(), filesBefore, 'no file added or removed');
    assert.deepEqual(await ws.shells(1), [shell], 'the step ran once');
    assert.equal(first.child.exitCode, null, 'the first daemon runs on');
    const still = await first.api('GET', `/api/runs/${run.body.run_id}`);
    assert.equal(still.body.status, 'running');

    // The kernel drops the lock of a killed process: the next daemon takes over the run.
    first.child.kill('SIGKILL');
    await withTimeout(first.exited, WAIT_MS, 'the first daemon to die');
    const next = await daemon(ws.config);
    await next.waitForLine(/restored 1 active run\(s\)/);
    const [, again] = await ws.shells(2);
    assert.notEqual(again, shell);
    assert.ok(ledger(ws.state).some((e) => e.kind === 'resumed'));
    assert.equal((await readFile(join(ws.state, 'sopgate.pid'), 'utf8')).trim(), String(next.child.pid));

    next.child.kill('SIGTERM');
    assert.deepEqual(await withTimeout(next.exited, WAIT_MS, 'the daemon to stop'), { code: 0, signal: null });
    assert.equal(existsSync(join(ws.state, 'sopgate.pid')), false, 'a daemon that stops removes its PID file');
  });

  test('a port in use stops start-up before any run is restored or any step runs again', async () => {
    const ws = await workspace();
    await killedMidStep(ws);
    const ledgerBefore = ledger(ws.state);

    const held: Server = createServer();
    await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', resolve));
    cleanup(() => new Promise((resolve) => held.close(() => resolve())));
    const port = (held.address() as { port: number }).port;
    const config = join(ws.root, 'port-taken.toml');
    // The broker's port: it is bound last, so every listener comes before the runs.
    await writeFile(config, (await readFile(ws.config, 'utf8')).replace(/(\[mqtt\]\nlisten = )"127\.0\.0\.1:0"/, `$1"127.0.0.1:${port}"`));
    assert.match(await readFile(config, 'utf8'), new RegExp(`listen = "127.0.0.1:${port}"`));

    const r = await runNode([packaged.pkg.bundle, 'daemon', '--config', config], { cwd: ws.root });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /cannot start: .*EADDRINUSE/);
    assert.doesNotMatch(r.stdout, /restored/);
    assert.deepEqual(ledger(ws.state), ledgerBefore, 'no resumed row');
    assert.equal((await ws.shells(1)).length, 1, 'the step did not run again');

    // The port free again, the run is restored as usual.
    const d = await daemon(ws.config);
    await d.waitForLine(/restored 1 active run\(s\)/);
    await ws.shells(2);
    await d.kill();
  });
});
