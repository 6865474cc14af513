// SOP files the loader must refuse without reading them: a FIFO, a device, a folder, a file
// larger than [sops] max_file_bytes, text that is not UTF-8; and a SOP.md with more steps than
// [sops] max_steps. Each is a finding on that SOP; the other SOPs load.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { describe, test } from 'node:test';
import { buildConfig, loadConfig } from '../src/config/config.js';
import { loadSops } from '../src/sop/load.js';
import { cli, makeTree, ONE_STEP_MD, removeTree, sopToml } from './helpers/workspace.js';

const OPTIONS = { defaultExecutionMode: 'supervised' as const, timezone: 'UTC' };

function mkfifo(path: string): void {
  const r = spawnSync('mkfifo', [path]);
  assert.equal(r.status, 0, String(r.stderr));
}

const messages = (loaded: { errors: { message: string }[] }): string[] => loaded.errors.map((e) => e.message);

describe('SOP files that are not regular files', () => {
  test('a FIFO named SOP.md or SOP.toml is an error, read without waiting for a writer', async () => {
    const root = await makeTree({ 'a/SOP.toml': sopToml('a'), 'b/SOP.md': ONE_STEP_MD, 'good/SOP.toml': sopToml('good'), 'good/SOP.md': ONE_STEP_MD });
    try {
      mkfifo(join(root, 'a/SOP.md'));
      mkfifo(join(root, 'b/SOP.toml'));
      const [a, b, good] = await loadSops(root, OPTIONS);
      assert.deepEqual(messages(a!), ['cannot read SOP.md: is a FIFO, not a regular file']);
      assert.equal(a!.errors[0]!.file, join(root, 'a/SOP.md'));
      assert.deepEqual(messages(b!), ['cannot read SOP.toml: is a FIFO, not a regular file']);
      assert.deepEqual(good!.errors, []);
    } finally {
      await removeTree(root);
    }
  });

  test('a link to a device is an error; a link to a regular file is read', async () => {
    const root = await makeTree({ 'a/SOP.toml': sopToml('a'), 'b/SOP.toml': sopToml('b'), 'shared/steps.md': ONE_STEP_MD });
    try {
      await symlink('/dev/zero', join(root, 'a/SOP.md'));
      await symlink('../shared/steps.md', join(root, 'b/SOP.md'));
      const [a, b] = await loadSops(root, OPTIONS);
      assert.deepEqual(messages(a!), ['cannot read SOP.md: is a character device, not a regular file']);
      assert.deepEqual(b!.errors, []);
      assert.equal(b!.sop.steps.length, 1);
    } finally {
      await removeTree(root);
    }
  });
});

describe('SOP file size and step count', () => {
  test('a file over max_file_bytes is an error naming the setting; at the limit it is read', async () => {
    const md = `${ONE_STEP_MD}\n${'x'.repeat(100)}\n`;
    const root = await makeTree({ 'a/SOP.toml': sopToml('a'), 'a/SOP.md': md });
    try {
      const bytes = Buffer.byteLength(md);
      const [over] = await loadSops(root, { ...OPTIONS, maxFileBytes: bytes - 1 });
      assert.deepEqual(messages(over!), [`cannot read SOP.md: larger than ${bytes - 1} bytes (the limit is [sops] max_file_bytes)`]);
      const [at] = await loadSops(root, { ...OPTIONS, maxFileBytes: bytes });
      assert.deepEqual(at!.errors, []);
    } finally {
      await removeTree(root);
    }
  });

  test('the default limit is 1 MiB', async () => {
    const root = await makeTree({ 'a/SOP.toml': sopToml('a'), 'a/SOP.md': `${ONE_STEP_MD}${'x'.repeat(1024 * 1024)}\n` });
    try {
      const [a] = await loadSops(root, OPTIONS);
      assert.deepEqual(messages(a!), ['cannot read SOP.md: larger than 1048576 bytes (the limit is [sops] max_file_bytes)']);
    } finally {
      await removeTree(root);
    }
  });

  test('more steps than max_steps (default 1,000) is an error', async () => {
    const md = (n: number) => `## Steps\n\n${Array.from({ length: n }, (_, i) => `${i + 1}. **Step ${i + 1}**`).join('\n')}\n`;
    const root = await makeTree({ 'a/SOP.toml': sopToml('a'), 'a/SOP.md': md(1001), 'b/SOP.toml': sopToml('b'), 'b/SOP.md': md(1000) });
    try {
      const [a, b] = await loadSops(root, OPTIONS);
      assert.deepEqual(messages(a!), ['1001 steps, more than the 1000 allowed ([sops] max_steps)']);
      assert.equal(a!.errors[0]!.file, join(root, 'a/SOP.md'));
      assert.deepEqual(b!.errors, []);
      const [small] = await loadSops(root, { ...OPTIONS, maxSteps: 3 });
      assert.deepEqual(messages(small!), ['1001 steps, more than the 3 allowed ([sops] max_steps)']);
    } finally {
      await removeTree(root);
    }
  });

  test('more [[triggers]] than max_triggers (default 32) is an error at the first one over; those are not checked', async () => {
    const cron = (expression: string) => `[[triggers]]\ntype = "cron"\nexpression = "${expression}"\n`;
    // Each of these never fires: croner searches centuries ahead to say so.
    const never = Array.from({ length: 10_000 }, (_, i) => cron(`${i % 60} ${Math.floor(i / 60) % 24} 30 2 *`)).join('');
    const root = await makeTree({
      'a/SOP.toml': sopToml('a', '', never),
      'a/SOP.md': ONE_STEP_MD,
      'b/SOP.toml': sopToml('b', '', cron('0 * * * *').repeat(32)),
      'b/SOP.md': ONE_STEP_MD,
    });
    try {
      const t0 = performance.now();
      const [a, b] = await loadSops(root, { ...OPTIONS, maxTriggers: 3 });
      assert.ok(performance.now() - t0 < 5_000);
      assert.equal(a!.errors[0]!.message, '10000 triggers, more than the 3 allowed ([sops] max_triggers)');
      assert.equal(a!.errors[0]!.line, 14); // the fourth [[triggers]]
      assert.deepEqual(a!.errors.slice(1).map((e) => e.message), [1, 2, 3].map((n) => `trigger ${n} (cron): cron expression "${n - 1} 0 30 2 *" never fires`));
      assert.equal(b!.errors[0]!.message, '32 triggers, more than the 3 allowed ([sops] max_triggers)');
      const [, atDefault] = await loadSops(root, OPTIONS);
      assert.deepEqual(atDefault!.errors, []);
      assert.equal(atDefault!.sop.triggers.length, 32);
    } finally {
      await removeTree(root);
    }
  });

  test('[sops] max_file_bytes and max_steps reach validate from sopgate.toml', async () => {
    const root = await makeTree({
      'sopgate.toml': '[sops]\nmax_file_bytes = 100\nmax_steps = 2\n',
      'sops/big/SOP.toml': sopToml('big'),
      'sops/big/SOP.md': `${ONE_STEP_MD}${'x'.repeat(200)}\n`,
      'sops/many/SOP.toml': sopToml('many'),
      'sops/many/SOP.md': '## Steps\n\n1. **A**\n2. **B**\n3. **C**\n',
    });
    try {
      const r = await cli(root, 'validate', '--json');
      assert.equal(r.code, 1);
      const out = JSON.parse(r.stdout) as { sops: { name: string; errors: { message: string }[] }[] };
      assert.deepEqual(
        out.sops.map((s) => [s.name, s.errors.map((e) => e.message)]),
        [
          ['big', ['cannot read SOP.md: larger than 100 bytes (the limit is [sops] max_file_bytes)']],
          ['many', ['3 steps, more than the 2 allowed ([sops] max_steps)']],
        ],
      );
    } finally {
      await removeTree(root);
    }
  });

  test('the [sops] settings are checked like every other', () => {
    const ok = buildConfig('', null, '/');
    assert.ok(ok.ok);
    assert.deepEqual({ ...ok.config.sops }, { max_file_bytes: 1048576, max_steps: 1000, max_triggers: 32 });
    const bad = buildConfig('[sops]\nmax_file_bytes = 0\nmax_steps = "many"\nmax_triggers = -1\n', 'sopgate.toml', '/');
    assert.ok(!bad.ok);
    assert.deepEqual(bad.errors.map((e) => [e.line, e.message]), [
      [2, '[sops] max_file_bytes must be an integer ≥ 1, got 0'],
      [3, '[sops] max_steps must be an integer ≥ 1, got "many"'],
      [4, '[sops] max_triggers must be an integer ≥ 1, got -1'],
    ]);
  });
});

describe('SOP files of many small parts', () => {
  test('a SOP.toml of 170,000 unknown keys and a tools bullet of 300,000 items load (no argument spread overflows the stack)', async () => {
    const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-';
    const keys = Array.from({ length: 170_000 }, (_, i) => `${alphabet[i % 64]}${alphabet[(i >> 6) % 64]}${alphabet[(i >> 12) % 64]}=1`);
    const toml = sopToml('many', keys.join('\n'));
    assert.ok(Buffer.byteLength(toml) < 1_048_576);
    const md = `## Steps\n\n1. **A**\n   - tools: ${'a,'.repeat(300_000)}\n`;
    const root = await makeTree({ 'many/SOP.toml': toml, 'many/SOP.md': ONE_STEP_MD, 'tools/SOP.toml': sopToml('tools'), 'tools/SOP.md': md });
    try {
      const [many, tools] = await loadSops(root, OPTIONS);
      assert.deepEqual(many!.errors, []);
      assert.equal(many!.warnings.length, 170_000);
      assert.deepEqual(tools!.errors, []);
      assert.equal(tools!.sop.steps[0]!.suggested_tools.length, 300_000);
    } finally {
      await removeTree(root);
    }
  });
});

describe('SOP files that are not UTF-8', () => {
  test('an invalid byte in SOP.md or SOP.toml is an error on its line', async () => {
    const root = await makeTree({ 'a/SOP.toml': sopToml('a'), 'b/SOP.md': ONE_STEP_MD });
    try {
      // line 4 holds a lone continuation byte; line 2 an overlong encoding of "/"
      await writeFile(join(root, 'a/SOP.md'), Buffer.concat([Buffer.from('# A\n\n## Steps\n1. **Fan '), Buffer.from([0x80]), Buffer.from('**\n')]));
      await writeFile(join(root, 'b/SOP.toml'), Buffer.concat([Buffer.from('[sop]\nname = "b'), Buffer.from([0xc0, 0xaf]), Buffer.from('"\ndescription = "d"\n')]));
      const [a, b] = await loadSops(root, OPTIONS);
      assert.deepEqual(a!.errors.map((e) => [e.line, e.message]), [[4, 'cannot read SOP.md: not valid UTF-8 (byte 0x80 on line 4)']]);
      assert.deepEqual(b!.errors.map((e) => [e.line, e.message]), [[2, 'cannot read SOP.toml: not valid UTF-8 (byte 0xc0 on line 2)']]);
    } finally {
      await removeTree(root);
    }
  });

  test('validate reports it and exits 1', async () => {
    const root = await makeTree({ 'sops/a/SOP.toml': sopToml('a') });
    try {
      await writeFile(join(root, 'sops/a/SOP.md'), Buffer.concat([Buffer.from('## Steps\n\n1. **A** '), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('\n')]));
      const r = await cli(root, 'validate');
      assert.equal(r.code, 1);
      assert.match(r.stdout, /sops\/a\/SOP\.md:3: error: cannot read SOP\.md: not valid UTF-8 \(byte 0xed on line 3\)/);
    } finally {
      await removeTree(root);
    }
  });
});

describe('the config file', () => {
  test('a FIFO or a file that is not UTF-8 is a config error, not a hang', async () => {
    const root = await makeTree({});
    try {
      mkfifo(join(root, 'fifo.toml'));
      const fifo = await loadConfig('fifo.toml', root);
      assert.ok(!fifo.ok);
      assert.equal(fifo.errors[0]!.message, 'cannot read config: is a FIFO, not a regular file');
      await writeFile(join(root, 'latin1.toml'), Buffer.from('# caf\xe9\n', 'latin1'));
      const latin1 = await loadConfig('latin1.toml', root);
      assert.ok(!latin1.ok);
      assert.deepEqual(latin1.errors.map((e) => [e.line, e.message]), [[1, 'cannot read config: not valid UTF-8 (byte 0xe9 on line 1)']]);
    } finally {
      await removeTree(root);
    }
  });
});
