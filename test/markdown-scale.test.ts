// SOP.md parsing costs time in proportion to the file's size, whatever the file holds:
// each shape is parsed at n and 8n bytes and the cost may grow about eightfold (up to
// three times that is allowed: collections in a larger heap), never 64-fold as a quadratic
// parser's would. Ratios of this process's CPU time, not absolute wall times: a busy
// machine does not make the test fail.
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { parseSteps } from '../src/sop/markdown.js';

const fill = (pattern: string, bytes: number): string => pattern.repeat(Math.ceil(bytes / pattern.length)).slice(0, bytes);
const steps = (bytes: number, step: (i: number) => string): string => {
  const out = ['# Big', '', '## Steps', ''];
  for (let i = 1, size = 0; size < bytes; i++) {
    const text = step(i);
    out.push(text);
    size += text.length + 1;
  }
  return out.join('\n');
};

/** Inputs that made the CommonMark parser's cost grow with the square of the size (or worse). */
const SHAPES: Record<string, (bytes: number) => string> = {
  'steps with sub-bullets': (b) => steps(b, (i) => `${i}. **Step ${i}** — Do the thing number ${i} now.\n   - tools: shell`),
  'steps each followed by a note': (b) => steps(b, (i) => `${i}. **Step ${i}** — Do thing ${i}.\n\nNote about it.`),
  'list items closed by blank lines': (b) => `## Steps\n\n1. **A**\n${fill('- a\n\nb\n', b)}`,
  'nested list items': (b) => `## Steps\n\n1. **A**\n${fill('- a\n  - b\nc\n\n', b)}`,
  'quotes closed by blank lines': (b) => `## Steps\n\n1. **A**\n${fill('> a\n\n> b\n', b)}`,
  'one deep quote': (b) => `## Steps\n\n1. **A**\n${fill('>', b)}`,
  'links in a title': (b) => `## Steps\n\n1. **${fill('[a](b [c](d ', b)}**`,
  'emphasis in a title': (b) => `## Steps\n\n1. **${fill('*a **b _c __d ', b)}**`,
  'code spans in a title': (b) => `## Steps\n\n1. **${fill('`a ``b ```c ', b)}**`,
};

/** This process's CPU time in ms: other processes on a busy machine do not count. */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/**
 * What one parse costs: parses repeated for at least 20 ms of CPU (so the clock's grain
 * does not matter), the best of five such rounds (so a collection or a JIT pause does not).
 */
function cost(text: string): number {
  parseSteps(text, 'SOP.md');
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const t0 = cpuMs();
    let runs = 0;
    do {
      parseSteps(text, 'SOP.md');
      runs++;
    } while (cpuMs() - t0 < 20);
    best = Math.min(best, (cpuMs() - t0) / runs);
  }
  return best;
}

describe('parseSteps scales linearly', () => {
  for (const [name, make] of Object.entries(SHAPES)) {
    it(`${name}: 8x the bytes cost less than 24x the time (a quadratic parser: 64x)`, { timeout: 60_000 }, () => {
      const small = cost(make(16 * 1024));
      const large = cost(make(128 * 1024));
      const ratio = large / small;
      assert.ok(ratio < 24, `${name}: ${small.toFixed(2)} ms for 16 KiB, ${large.toFixed(2)} ms for 128 KiB (x${ratio.toFixed(1)})`);
    });
  }

  it('parses a 10,000-step SOP.md (660 KB) in well under 5 seconds', () => {
    const lines = ['# Big', '', '## Steps', ''];
    for (let i = 1; i <= 10_000; i++) lines.push(`${i}. **Step ${i}** — Do the thing ${i}.`, '', '   - tools: shell', '', 'Note: check it.');
    const file = lines.join('\n');
    assert.ok(file.length > 650_000, String(file.length));
    const t0 = performance.now();
    const parsed = parseSteps(file, 'SOP.md');
    const ms = performance.now() - t0;
    assert.equal(parsed.steps.length, 10_000);
    assert.deepEqual(parsed.steps[9_999]?.suggested_tools, ['shell']);
    assert.ok(ms < 5_000, `${ms.toFixed(0)} ms`);
  });
});
