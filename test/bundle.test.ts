// The bundle works on its own: built fresh into a temp folder, then the one file run as a
// child process from a folder with nothing else in it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { removeTree, tempDir } from './helpers/workspace.js';

const run = promisify(execFile);
const repo = resolve(import.meta.dirname, '..');
const examples = join(repo, 'examples/workspace/sopgate.toml');
let dir: string;
let bundle: string;

before(async () => {
  dir = await tempDir('sopgate-bundle-');
  await run(process.execPath, [join(repo, 'build.mjs'), '--outfile', join(dir, 'build/sopgate.cjs')], { cwd: repo });
  // Copy it alone into an empty folder: nothing from node_modules may be needed at run time.
  bundle = join(dir, 'sopgate.cjs');
  await copyFile(join(dir, 'build/sopgate.cjs'), bundle);
});
after(() => removeTree(dir));

async function sopgate(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [bundle, ...args], { cwd: dir });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('the bundle', () => {
  test('is ASCII, so that V8 keeps its source one byte per character', async () => {
    const { readFile } = await import('node:fs/promises');
    const text = await readFile(bundle, 'latin1');
    assert.equal(/[^\x00-\x7f]/.test(text), false);
  });

  test("the upstream's MQTT client is a bundle of its own beside it, ASCII too, and in it alone", async () => {
    const { readFile } = await import('node:fs/promises');
    const main = await readFile(bundle, 'latin1');
    const client = await readFile(join(dir, 'build/mqtt-client.cjs'), 'latin1');
    assert.equal(/[^\x00-\x7f]/.test(client), false);
    // esbuild heads each module it bundles with a comment naming its file.
    assert.match(client, /^\/\/ node_modules\/mqtt\/build\/lib\/client\.js$/m);
    assert.doesNotMatch(main, /^\/\/ node_modules\/mqtt\//m);
  });

  test('the example workspace validates clean', async () => {
    const r = await sopgate('validate', '--json', '--config', examples);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.ok, true);
    assert.deepEqual(
      out.sops.map((s: { name: string }) => s.name),
      ['co2-sensor', 'daily-digest', 'deploy-prod', 'high-temp-alert', 'lamp-button'],
    );
  });

  test('match runs the compiled matcher', async () => {
    const hot = await sopgate('match', '--config', examples, '--source', 'mqtt', '--topic', 'sensors/freezer-2/temp', '--payload', '{"value":85}', '--json');
    assert.deepEqual(JSON.parse(hot.stdout), { matched: ['high-temp-alert'] });
    const cold = await sopgate('match', '--config', examples, '--source', 'mqtt', '--topic', 'sensors/freezer-2/temp', '--payload', '{"value":84}', '--json');
    assert.deepEqual(JSON.parse(cold.stdout), { matched: [] });
  });

  test('show --json and the injected version', async () => {
    const r = await sopgate('show', 'deploy-prod', '--json', '--config', examples);
    assert.equal(r.code, 0);
    const sop = JSON.parse(r.stdout);
    assert.equal(sop.steps.length, 4);
    assert.equal(sop.steps[1].requires_confirmation, true);
    assert.equal(sop.steps[0].action.tool, 'shell');
    const v = await sopgate('--version');
    assert.match(v.stdout.trim(), /^\d+\.\d+\.\d+$/);
  });

  test('exit codes cross the process boundary', async () => {
    assert.equal((await sopgate('show', 'nope', '--config', examples)).code, 2);
    assert.equal((await sopgate('validate', '--config', join(dir, 'missing.toml'))).code, 1);
  });

  test('a closed stdout (sopgate list | head) does not crash it', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [bundle, 'list', '--config', examples], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // the reader went away before the first write
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 0);
    assert.equal(stderr, '');
  });
});
