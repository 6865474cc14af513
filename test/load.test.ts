import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadSops, SopsDirError } from '../src/sop/load.js';
import { ONE_STEP_MD, sopToml } from './helpers/fixtures.js';
import { makeTree, removeTree } from './helpers/workspace.js';

const OPTIONS = { defaultExecutionMode: 'supervised' as const, timezone: 'UTC' };

describe('loading a SOP folder', () => {
  test('folders load sorted by name; folders without SOP.toml and dot-folders are skipped', async () => {
    const root = await makeTree({
      'b-second/SOP.toml': sopToml('b'),
      'b-second/SOP.md': ONE_STEP_MD,
      'a-first/SOP.toml': sopToml('a'),
      'a-first/SOP.md': ONE_STEP_MD,
      'notes/README.md': 'not a SOP',
      '.hidden/SOP.toml': sopToml('hidden'),
      'loose-file.toml': 'x = 1',
    });
    try {
      const sops = await loadSops(root, OPTIONS);
      assert.deepEqual(
        sops.map((s) => s.sop.name),
        ['a', 'b'],
      );
      assert.equal(sops[0]!.sop.location, join(root, 'a-first'));
      assert.deepEqual(sops[0]!.errors, []);
      assert.deepEqual(sops[0]!.warnings, []);
      assert.equal(sops[0]!.sop.steps.length, 1);
    } finally {
      await removeTree(root);
    }
  });

  test('a broken SOP never stops the others from loading', async () => {
    const root = await makeTree({
      'bad/SOP.toml': '[sop\nname = "bad"',
      'good/SOP.toml': sopToml('good'),
      'good/SOP.md': ONE_STEP_MD,
    });
    try {
      const sops = await loadSops(root, OPTIONS);
      assert.deepEqual(
        sops.map((s) => [s.sop.name, s.errors.length]),
        [
          ['bad', 1],
          ['good', 0],
        ],
      );
      assert.equal(sops[0]!.errors[0]!.file, join(root, 'bad/SOP.toml'));
    } finally {
      await removeTree(root);
    }
  });

  test('two folders with the same SOP name: the later folder is an error', async () => {
    const root = await makeTree({
      'one/SOP.toml': sopToml('same'),
      'one/SOP.md': ONE_STEP_MD,
      'two/SOP.toml': sopToml('same'),
      'two/SOP.md': ONE_STEP_MD,
    });
    try {
      const [one, two] = await loadSops(root, OPTIONS);
      assert.deepEqual(one!.errors, []);
      assert.equal(two!.errors.length, 1);
      assert.match(two!.errors[0]!.message, /duplicate SOP name "same": already defined in .*\/one/);
    } finally {
      await removeTree(root);
    }
  });

  test('no SOP.md, and a SOP.md without steps, warn "no steps"; no triggers warns too', async () => {
    const root = await makeTree({
      'a/SOP.toml': sopToml('a'),
      'b/SOP.toml': sopToml('b', '', ''),
      'b/SOP.md': '# B\n\nJust prose.\n',
    });
    try {
      const [a, b] = await loadSops(root, OPTIONS);
      assert.deepEqual(a!.errors, []);
      assert.deepEqual(
        a!.warnings.map((w) => w.message),
        ['no steps: SOP.md is missing, so this SOP cannot run'],
      );
      assert.deepEqual(
        b!.warnings.map((w) => w.message),
        ['no triggers: nothing can start this SOP', 'no steps: SOP.md has no numbered items under "## Steps"'],
      );
    } finally {
      await removeTree(root);
    }
  });

  test('a missing [sop] name falls back to the folder name so the SOP can still be found', async () => {
    const root = await makeTree({ 'folder-name/SOP.toml': '[sop]\ndescription = "d"\n' });
    try {
      const [s] = await loadSops(root, OPTIONS);
      assert.equal(s!.sop.name, 'folder-name');
      assert.match(s!.errors[0]!.message, /missing required key "name"/);
    } finally {
      await removeTree(root);
    }
  });

  test('an unreadable file (a folder where SOP.md should be) is an error', async () => {
    const root = await makeTree({ 'a/SOP.toml': sopToml('a'), 'a/SOP.md/x': '' });
    try {
      const [a] = await loadSops(root, OPTIONS);
      assert.equal(a!.errors.length, 1);
      assert.match(a!.errors[0]!.message, /cannot read SOP.md: is a folder/);
      assert.equal(a!.errors[0]!.file, join(root, 'a/SOP.md'));
    } finally {
      await removeTree(root);
    }
  });

  test('a SOP folder that does not exist throws SopsDirError', async () => {
    await assert.rejects(loadSops('/nonexistent/sops', OPTIONS), (err: unknown) => {
      assert.ok(err instanceof SopsDirError);
      assert.equal(err.reason, 'no such folder');
      return true;
    });
  });

  test('every built-in tool runs, gpio_write included (its signal is checked against the board profiles elsewhere); unknown placeholders warn at the fence line', async () => {
    const md = [
      '# X',
      '',
      '## Steps',
      '',
      '1. **Light the lamp**',
      '',
      '   ```gpio_write',
      '   signal = "lamp"',
      '   value = 1',
      '   ```',
      '',
      '2. **Log**',
      '',
      '   ```log',
      '   message = "value {{payload.value}} on {{paylod.sensor}}"',
      '   ```',
    ].join('\n');
    const root = await makeTree({ 'a/SOP.toml': sopToml('a'), 'a/SOP.md': md });
    try {
      const [a] = await loadSops(root, OPTIONS);
      assert.deepEqual(a!.errors, []);
      assert.deepEqual(
        a!.warnings.map((w) => [w.line, w.message]),
        [[14, 'step 2: unknown placeholder {{paylod.sensor}} is left as written']],
      );
    } finally {
      await removeTree(root);
    }
  });
});
