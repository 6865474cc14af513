// scripts/install.sh --prefix into a temp folder, with a fake `npm` first on PATH that
// records how it was called and copies the production dependency closure instead of
// downloading and compiling it.
import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { cleanEnv, productionClosure, REPO, runCommand, runNode, spawnDaemon, WAIT_MS, withTimeout } from './helpers/process.js';
import { removeTree, tempDir } from './helpers/workspace.js';

let dir: string;
let prefix: string;
let npmLog: string;
let env: NodeJS.ProcessEnv;
const opt = () => join(prefix, 'opt/sopgate');
const etc = () => join(prefix, 'etc/sopgate');

before(async () => {
  if (!existsSync(join(REPO, 'dist/sopgate.cjs'))) {
    const built = await runNode([join(REPO, 'build.mjs')], { cwd: REPO, timeoutMs: 60_000 });
    assert.equal(built.code, 0, built.stdout + built.stderr);
  }
  dir = await tempDir('sopgate-install-');
  prefix = join(dir, 'root');
  npmLog = join(dir, 'npm.log');
  const bin = join(dir, 'bin');
  await mkdir(bin);
  // What `npm install --omit=dev` would leave, copied from the repo's own node_modules.
  const copies = (await productionClosure(REPO))
    .map((rel) => `mkdir -p "$(dirname "$PWD/${rel}")" && rm -rf "$PWD/${rel}" && cp -R "${REPO}/${rel}" "$PWD/${rel}"`)
    .join('\n');
  await writeFile(join(bin, 'npm'), `#!/bin/sh\nset -e\nprintf '%s|%s\\n' "$PWD" "$*" >> "${npmLog}"\n${copies}\n`);
  await chmod(join(bin, 'npm'), 0o755);
  env = cleanEnv({ PATH: `${bin}:${process.env.PATH}` });
});
after(() => removeTree(dir));

const install = () => runCommand('/bin/sh', [join(REPO, 'scripts/install.sh'), '--prefix', prefix], { cwd: dir, env, timeoutMs: 30_000 });

describe('scripts/install.sh --prefix', () => {
  test('installs the bundle, its production dependencies, the config and the unit', async () => {
    const r = await install();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /wrote .*etc\/sopgate\/sopgate\.toml/);
    assert.match(r.stdout, /no user created, systemd not touched/);

    assert.deepEqual(await readFile(join(opt(), 'dist/sopgate.cjs')), await readFile(join(REPO, 'dist/sopgate.cjs')));
    assert.deepEqual(await readFile(join(opt(), 'dist/mqtt-client.cjs')), await readFile(join(REPO, 'dist/mqtt-client.cjs')));
    assert.deepEqual(await readFile(join(opt(), 'package.json')), await readFile(join(REPO, 'package.json')));
    assert.deepEqual(await readFile(join(opt(), 'README.md')), await readFile(join(REPO, 'README.md')));
    const docs = (await readdir(join(REPO, 'docs'))).filter((f) => f.endsWith('.md')).sort();
    assert.ok(docs.includes('operations.md'));
    assert.deepEqual((await readdir(join(opt(), 'docs'))).sort(), docs);
    assert.deepEqual((await readdir(join(opt(), 'boards'))).sort(), (await readdir(join(REPO, 'boards'))).sort());
    const rule = await readFile(join(prefix, 'etc/udev/rules.d/60-sopgate-gpio.rules'), 'utf8');
    assert.match(rule, /^SUBSYSTEM=="gpio", KERNEL=="gpiochip\*", GROUP="gpio", MODE="0660"$/m);
    const modules = await readdir(join(opt(), 'node_modules'));
    assert.ok(modules.includes('better-sqlite3'));
    assert.ok(!modules.includes('aedes'), 'dev dependencies are not installed');

    const calls = (await readFile(npmLog, 'utf8')).trim().split('\n');
    assert.equal(calls.length, 1);
    const [cwd, args] = calls[0]!.split('|');
    assert.equal(cwd, opt());
    assert.match(args!, /^install --omit=dev\b/);

    const toml = await readFile(join(etc(), 'sopgate.toml'), 'utf8');
    assert.match(toml, new RegExp(`^workspace = "${etc()}"$`, 'm'));
    assert.match(toml, new RegExp(`^state_dir = "${prefix}/var/lib/sopgate"$`, 'm'));
    // Its comment names the installed page that describes every key.
    const reference = /^# .* in (\S+\.md)\.$/m.exec(toml)?.[1];
    assert.equal(reference, `${opt()}/docs/configuration.md`);
    assert.ok(existsSync(reference));
    assert.ok(existsSync(join(etc(), 'sops')));
    assert.ok(existsSync(join(prefix, 'var/lib/sopgate')));

    const unit = await readFile(join(prefix, 'etc/systemd/system/sopgate.service'), 'utf8');
    assert.match(unit, /^Type=notify$/m);
    assert.match(unit, /^NotifyAccess=all$/m);
    assert.match(unit, /^Restart=on-failure$/m);
    const execStart = /^ExecStart=(.*)$/m.exec(unit)?.[1];
    assert.equal(execStart, `/usr/bin/node --expose-gc --max-old-space-size=256 ${opt()}/dist/sopgate.cjs daemon --config ${etc()}/sopgate.toml`);
    assert.match(unit, new RegExp(`^ReadWritePaths=${etc()} ${prefix}/var/lib/sopgate$`, 'm'));
    assert.match(unit, new RegExp(`^WorkingDirectory=${etc()}$`, 'm'));
    // Documentation= names files the install put there.
    const documentation = /^Documentation=(.*)$/m.exec(unit)?.[1]?.split(/\s+/) ?? [];
    assert.ok(documentation.length > 0);
    for (const uri of documentation) {
      assert.match(uri, new RegExp(`^file:${prefix}/opt/sopgate/`));
      assert.ok(existsSync(uri.slice('file:'.length)), `${uri} exists`);
    }
    // Every path in the unit now lies under the prefix.
    for (const path of ['/opt/sopgate', '/etc/sopgate', '/var/lib/sopgate']) {
      const bare = unit.split(path).length - 1;
      const prefixed = unit.split(`${prefix}${path}`).length - 1;
      assert.equal(bare, prefixed, `every ${path} in the unit is under the prefix`);
    }
  });

  test('the installed bundle validates the installed config', async () => {
    const r = await runNode([join(opt(), 'dist/sopgate.cjs'), 'validate', '--config', join(etc(), 'sopgate.toml')], { cwd: dir, env });
    // No SOPs yet: nothing wrong with the config, and it says what it checked.
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /0 SOPs checked in .*etc\/sopgate\/sops/);
    assert.doesNotMatch(r.stdout + r.stderr, /sopgate\.toml(:\d+)?: error/);
  });

  test('running it again upgrades in place and keeps an edited config', async () => {
    const config = join(etc(), 'sopgate.toml');
    const edited = `${(await readFile(config, 'utf8')).replaceAll(/listen = "127\.0\.0\.1:\d+"/g, 'listen = "127.0.0.1:0"')}# edited by the operator\n`;
    await writeFile(config, edited);
    const unitBefore = await readFile(join(prefix, 'etc/systemd/system/sopgate.service'), 'utf8');

    const r = await install();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /kept the existing .*sopgate\.toml/);
    assert.equal(await readFile(config, 'utf8'), edited);
    assert.equal(await readFile(join(prefix, 'etc/systemd/system/sopgate.service'), 'utf8'), unitBefore);
    assert.equal((await readFile(npmLog, 'utf8')).trim().split('\n').length, 2, 'npm ran once per install');
    assert.deepEqual((await readdir(opt())).filter((f) => f !== 'package-lock.json').sort(), ['README.md', 'boards', 'dist', 'docs', 'node_modules', 'package.json']);

    // The installed tree runs the daemon on the kept config.
    const d = await spawnDaemon(join(opt(), 'dist/sopgate.cjs'), config, { cwd: dir, env });
    try {
      assert.match(d.lines.join('\n'), /ready: .*0 SOP\(s\) loaded/);
      const health = await fetch(`${d.base}/healthz`, { signal: AbortSignal.timeout(WAIT_MS) });
      assert.equal(health.status, 200);
      d.child.kill('SIGTERM');
      assert.deepEqual(await withTimeout(d.exited, WAIT_MS, 'the daemon to exit'), { code: 0, signal: null });
      assert.ok(existsSync(join(prefix, 'var/lib/sopgate/sopgate.db')), 'state went to the prefixed state_dir');
    } finally {
      await d.kill();
    }
  });
});
