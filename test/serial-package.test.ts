// The serial binding ships as a production dependency and is loaded only when a port opens:
// the packaged daemon starts without mapping its .node file, and serial code bundled the
// way the daemon is (scripts/externals.mjs) reads a port beside the production closure alone.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { build } from 'esbuild';
import { EXTERNAL } from '../scripts/externals.mjs';
import { cleanEnv, daemonConfig, packagedBundle, removePackagedBundle, REPO, spawnDaemon, withTimeout, WAIT_MS, type Packaged } from './helpers/process.js';
import { ptyDevice } from './helpers/pty.js';
import { makeTree, ONE_STEP_MD, removeTree, sopToml } from './helpers/workspace.js';

let pkg: Packaged;
let ws: string;
before(async () => {
  pkg = await packagedBundle();
  ws = await makeTree({ 'sopgate.toml': daemonConfig(), 'sops/noop/SOP.toml': sopToml('noop'), 'sops/noop/SOP.md': ONE_STEP_MD });
});
after(async () => {
  await removeTree(ws);
  await removePackagedBundle();
});

const natives = (maps: string) => [...new Set(maps.match(/\S+\.node$/gm) ?? [])];

describe('packaging the serial binding', () => {
  test('it is in the production closure, and nothing else of serialport is', () => {
    assert.ok(pkg.closure.includes('node_modules/@serialport/bindings-cpp'), pkg.closure.join('\n'));
    assert.deepEqual(pkg.closure.filter((p) => /serialport/.test(p) && !p.startsWith('node_modules/@serialport/bindings-')), []);
  });

  test('a daemon without serial signals never loads the .node file', async () => {
    const d = await spawnDaemon(pkg.bundle, join(ws, 'sopgate.toml'));
    try {
      const loaded = natives(await readFile(`/proc/${d.child.pid}/maps`, 'utf8'));
      // The check sees native modules: better-sqlite3's is loaded by then.
      assert.ok(loaded.some((f) => f.includes('better_sqlite3')), loaded.join('\n'));
      assert.deepEqual(loaded.filter((f) => f.includes('serialport')), []);
    } finally {
      await d.kill();
    }
  });

  test('bundled like the daemon, serial code loads the binding on the first open and reads lines', async (t) => {
    const probe = join(pkg.dir, 'dist/serial-probe.cjs');
    await build({
      entryPoints: [join(REPO, 'test/fixtures/serial-probe.ts')],
      outfile: probe,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      external: EXTERNAL,
      logLevel: 'warning',
    });
    assert.doesNotMatch(await readFile(probe, 'utf8'), /node-gyp-build/, 'the binding stays out of the bundle');
    const device = await ptyDevice(join(ws, 'tty'));
    t.after(() => device.unplug());

    const child = spawn(process.execPath, [probe, device.path], { cwd: pkg.dir, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    t.after(() => child.kill('SIGKILL'));
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const lines: string[] = [];
    const next = (re: RegExp): Promise<string> =>
      withTimeout(
        new Promise<string>((resolve) => {
          const seen = lines.find((l) => re.test(l));
          if (seen !== undefined) return resolve(seen);
          const check = (line: string) => re.test(line) && (rl.off('line', check), resolve(line));
          rl.on('line', check);
        }),
        WAIT_MS,
        `a probe line matching ${re}: ${lines.join(' | ')} ${stderr}`,
      );
    const rl = createInterface({ input: child.stdout });
    rl.on('line', (line) => lines.push(line));

    assert.equal(await next(/^before open/), 'before open: binding loaded false');
    assert.equal(await next(/^state /), 'state up; binding loaded true');
    await device.send('hello from the pty\n');
    assert.equal(await next(/^event: /), 'event: probe/uart hello from the pty');
    const code = await withTimeout(new Promise((resolve) => child.once('exit', resolve)), WAIT_MS, 'the probe to exit');
    assert.equal(code, 0, stderr);
  });
});
