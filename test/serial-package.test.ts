// The serial binding ships as a production dependency and is loaded only when a port opens:
// the packaged daemon starts without mapping its .node file and maps it once a board
// profile has a serial signal, and serial code bundled the
// way the daemon is (scripts/externals.mjs) reads a port beside the production closure alone.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { build } from 'esbuild';
import { EXTERNAL } from '../scripts/externals.mjs';
import { cleanEnv, daemonConfig, packagedBundle, removePackagedBundle, REPO, spawnDaemon, until, withTimeout, WAIT_MS, type Packaged } from './helpers/process.js';
import { ptyDevice } from './helpers/pty.js';
import { ONE_STEP_MD, sopToml } from './helpers/fixtures.js';
import { makeTree, removeTree } from './helpers/workspace.js';

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

/** Runs the probe bundle; `next(re)` resolves with its first output line matching `re`. */
function startProbe(probe: string, cwd: string, port: string) {
  const child = spawn(process.execPath, [probe, port], { cwd, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const lines: string[] = [];
  const rl = createInterface({ input: child.stdout });
  rl.on('line', (line) => lines.push(line));
  const next = (re: RegExp): Promise<string> =>
    withTimeout(
      new Promise<string>((resolve) => {
        const seen = lines.find((l) => re.test(l));
        if (seen !== undefined) return resolve(seen);
        const check = (line: string) => {
          if (!re.test(line)) return;
          rl.off('line', check);
          resolve(line);
        };
        rl.on('line', check);
      }),
      WAIT_MS,
      `a probe line matching ${re}: ${lines.join(' | ')} ${stderr}`,
    );
  return { child, next, stderr: () => stderr };
}

const natives = (maps: string) => [...new Set(maps.match(/\S+\.node$/gm) ?? [])];

describe('packaging the serial binding', () => {
  test('it is in the production closure; the JS parts of serialport are bundled, not installed', () => {
    assert.ok(pkg.closure.includes('node_modules/@serialport/bindings-cpp'), pkg.closure.join('\n'));
    // What the binding itself depends on (its parser) comes with it, nested or hoisted as npm likes.
    const needed = new Set<string>();
    const visit = (name: string): void => {
      if (needed.has(name)) return;
      needed.add(name);
      for (const at of pkg.closure.filter((p) => p.endsWith(`node_modules/${name}`))) {
        const manifest = JSON.parse(readFileSync(join(pkg.dir, at, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
        for (const dep of Object.keys(manifest.dependencies ?? {})) visit(dep);
      }
    };
    visit('@serialport/bindings-cpp');
    const unneeded = pkg.closure.filter((p) => /serialport/.test(p) && ![...needed].some((name) => p.endsWith(`node_modules/${name}`)));
    assert.deepEqual(unneeded, []);
    assert.ok(!pkg.closure.some((p) => p.endsWith('@serialport/stream')), 'the stream is in the bundle');
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

  test('a daemon with a serial signal loads the binding and reads the port', async (t) => {
    const device = await ptyDevice(join(ws, 'tty-daemon'));
    t.after(() => device.unplug());
    const config = join(ws, 'serial.toml');
    await writeFile(join(ws, 'lab.toml'), `[board]\nname = "lab"\n\n[signals.uart]\ntype = "serial"\npath = "${device.path}"\nformat = "line"\n`);
    await writeFile(config, daemonConfig('boards = ["lab.toml"]').replace('state_dir = "state"', 'state_dir = "state-serial"'));
    const d = await spawnDaemon(pkg.bundle, config);
    try {
      const up = await until(async () => {
        const signals = (await d.api('GET', '/api/peripherals')).body as { state: string }[];
        return signals[0]?.state === 'up' ? signals : undefined;
      }, 'the serial signal to be up');
      assert.equal(up.length, 1);
      const loaded = natives(await readFile(`/proc/${d.child.pid}/maps`, 'utf8'));
      assert.equal(loaded.filter((f) => /bindings-cpp\/.*\.node$/.test(f)).length, 1, loaded.join('\n'));
      await device.send('hello\n');
      await until(async () => (/^sopgate_peripheral_events_total\{board="lab",signal="uart"\} 1$/m.test((await d.api('GET', '/metrics')).body) ? true : undefined), 'the line to be an event');
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

    const ok = startProbe(probe, pkg.dir, device.path);
    t.after(() => ok.child.kill('SIGKILL'));
    assert.equal(await ok.next(/^before open/), 'before open: binding loaded false');
    assert.equal(await ok.next(/^state /), 'state up; binding loaded true; error null');
    await device.send('hello from the pty\n');
    assert.equal(await ok.next(/^event: /), 'event: probe/uart hello from the pty');
    const code = await withTimeout(new Promise((resolve) => ok.child.once('exit', resolve)), WAIT_MS, 'the probe to exit');
    assert.equal(code, 0, ok.stderr());

    // Without the production dependencies (the bundle copied alone), the port is down
    // with a readable reason and the process goes on; it does not crash.
    const alone = join(ws, 'alone');
    await mkdir(alone);
    await copyFile(probe, join(alone, 'serial-probe.cjs'));
    const bare = startProbe(join(alone, 'serial-probe.cjs'), alone, device.path);
    t.after(() => bare.child.kill('SIGKILL'));
    assert.match(await bare.next(/^state /), /^state down; binding loaded false; error the serial driver \(serialport, @serialport\/bindings-cpp\) cannot be loaded: Cannot find module '@serialport\/bindings-cpp'/);
    assert.match(await bare.next(/^log: warn /), /cannot open .*the serial driver/);
    assert.equal(bare.child.exitCode, null, 'still running');
  });
});
