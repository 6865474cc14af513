import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseSteps } from '../src/sop/markdown.js';
import { loadSops } from '../src/sop/load.js';
import { StepsCache } from '../src/sop/steps-cache.js';
import { sopToml } from './helpers/fixtures.js';
import { makeTree, removeTree, tempDir } from './helpers/workspace.js';

const EXAMPLES = new URL('../examples/workspace/sops/', import.meta.url).pathname;
const BROKEN_MD = '# Broken\n\n## Steps\n\n1. **Run** — go.\n\n   ```shell\n   script = "x"\n   timeout_secs = -1\n   ```\n2. **Again**\n   - on_failure: sometimes\n';

let dir: string;
before(async () => {
  dir = await tempDir('sopgate-steps-cache-');
});
after(() => removeTree(dir));

/** A cache whose parse callback counts its calls. */
function counting(file: string, build = 'b1') {
  const cache = StepsCache.open(file, build);
  let parses = 0;
  const parse = (mdFile: string, text: string) =>
    cache.parse(mdFile, text, () => {
      parses++;
      return parseSteps(text, mdFile);
    });
  return { cache, parse, parses: () => parses };
}

describe('SOP.md parse cache', () => {
  test('a SOP.md over 64 KiB is parsed every time and not kept: the file is read and written whole', () => {
    const file = join(dir, 'large.json');
    const big = `## Steps\n\n1. **A** — ${'x'.repeat(64 * 1024)}\n`;
    const first = counting(file);
    first.parse('/sops/big/SOP.md', big);
    first.parse('/sops/small/SOP.md', BROKEN_MD);
    assert.equal(first.cache.save(), null);
    const stored = JSON.parse(readFileSync(file, 'utf8')) as { entries: Record<string, unknown> };
    assert.deepEqual(Object.keys(stored.entries), ['/sops/small/SOP.md']);
    const second = counting(file);
    assert.deepEqual(second.parse('/sops/big/SOP.md', big), parseSteps(big, '/sops/big/SOP.md'));
    second.parse('/sops/small/SOP.md', BROKEN_MD);
    assert.equal(second.parses(), 1);
  });

  test('a stored parse equals a fresh one, findings and action lines included', () => {
    const file = join(dir, 'examples.json');
    const texts: [string, string][] = readdirSync(EXAMPLES).map((name) => {
      const mdFile = join(EXAMPLES, name, 'SOP.md');
      return [mdFile, readFileSync(mdFile, 'utf8')];
    });
    texts.push([join(dir, 'broken/SOP.md'), BROKEN_MD]);
    const first = counting(file);
    for (const [mdFile, text] of texts) first.parse(mdFile, text);
    assert.equal(first.parses(), texts.length);
    assert.equal(first.cache.save(), null);

    const second = counting(file);
    for (const [mdFile, text] of texts) assert.deepEqual(second.parse(mdFile, text), parseSteps(text, mdFile), mdFile);
    assert.equal(second.parses(), 0, 'every parse came from the file');
    assert.ok(parseSteps(BROKEN_MD, 'x').errors.length > 0, 'the broken SOP.md has findings to keep');
  });

  test('another text, another file or another build parses again', () => {
    const file = join(dir, 'misses.json');
    const first = counting(file);
    first.parse('/sops/a/SOP.md', BROKEN_MD);
    first.cache.save();
    const edited = counting(file);
    edited.parse('/sops/a/SOP.md', `${BROKEN_MD}\n3. **More**\n`);
    edited.parse('/sops/b/SOP.md', BROKEN_MD);
    assert.equal(edited.parses(), 2);
    const rebuilt = counting(file, 'b2');
    rebuilt.parse('/sops/a/SOP.md', BROKEN_MD);
    assert.equal(rebuilt.parses(), 1);
  });

  test('a broken cache file is ignored; entries of SOPs that went away are dropped', () => {
    const file = join(dir, 'broken.json');
    writeFileSync(file, '{"build": "b1", "entries": ');
    const fresh = counting(file);
    fresh.parse('/sops/a/SOP.md', BROKEN_MD);
    fresh.parse('/sops/b/SOP.md', BROKEN_MD);
    assert.equal(fresh.parses(), 2);
    assert.equal(fresh.cache.save(), null);
    const fewer = counting(file);
    fewer.parse('/sops/a/SOP.md', BROKEN_MD);
    assert.equal(fewer.parses(), 0);
    assert.equal(fewer.cache.save(), null);
    assert.deepEqual(Object.keys((JSON.parse(readFileSync(file, 'utf8')) as { entries: object }).entries), ['/sops/a/SOP.md']);
  });

  test('nothing changed, nothing written', () => {
    const file = join(dir, 'unchanged.json');
    const first = counting(file);
    first.parse('/sops/a/SOP.md', BROKEN_MD);
    first.cache.save();
    writeFileSync(file, readFileSync(file, 'utf8').replace('"b1"', ' "b1"'));
    const again = counting(file);
    again.parse('/sops/a/SOP.md', BROKEN_MD);
    assert.equal(again.cache.save(), null);
    assert.match(readFileSync(file, 'utf8'), /^\{"build": "b1"/, 'the file was left as it was');
  });

  test('loading through the cache gives the same SOPs as loading without it', async () => {
    const root = await makeTree({
      'sops/one/SOP.toml': sopToml('one'),
      'sops/one/SOP.md': '# One\n\n## Steps\n\n1. **Log** — note it.\n\n   ```log\n   message = "hi {{nope}}"\n   ```\n',
      'sops/two/SOP.toml': sopToml('two'),
      'sops/two/SOP.md': BROKEN_MD,
    });
    try {
      const options = { defaultExecutionMode: 'supervised' as const, timezone: 'UTC' };
      const plain = await loadSops(join(root, 'sops'), options);
      const cacheFile = join(root, 'state/cache.json');
      const cold = StepsCache.open(cacheFile, 'b1');
      assert.deepEqual(await loadSops(join(root, 'sops'), options, cold), plain);
      cold.save();
      assert.ok(existsSync(cacheFile));
      assert.deepEqual(await loadSops(join(root, 'sops'), options, StepsCache.open(cacheFile, 'b1')), plain);
    } finally {
      await removeTree(root);
    }
  });
});
