import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * V8 flags are global to a process, so each case runs in a child: it fills the heap with
 * objects that survive scavenges (as a first start's SOP.md parses do) while growth is held,
 * then again once released, and reports the young generation's size at each point.
 */
function youngGenerationSizes(flags: string[] = []): { before: number; held: number; released: number } {
  const script = `
    import { getHeapSpaceStatistics } from 'node:v8';
    import { holdYoungGeneration } from './src/daemon/young-gen.ts';
    const young = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
    const keep = [];
    const survive = () => { for (let i = 0; i < 300_000; i++) keep.push({ i, text: 'reading ' + i }); };
    const before = young();
    const release = holdYoungGeneration();
    survive();
    const held = young();
    release();
    survive();
    console.log(JSON.stringify({ before, held, released: young() }));`;
  const child = spawnSync(process.execPath, [...flags, '--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(child.status, 0, child.stderr);
  return JSON.parse(child.stdout) as { before: number; held: number; released: number };
}

describe('young generation held during start-up', () => {
  test('does not grow while held, grows again once released', () => {
    const { before, held, released } = youngGenerationSizes();
    assert.equal(held, before, 'no growth while held, however much survives');
    assert.ok(released > held, `V8's own growth is back once released (${held} → ${released} bytes)`);
  });

  test("an operator's own growth factor is left alone", () => {
    const { before, held } = youngGenerationSizes(['--semi-space-growth-factor=4']);
    assert.ok(held > before, `the young generation grew as the operator's flag says (${before} → ${held} bytes)`);
  });
});
