// SOP.md parsing costs time in proportion to the file's size, whatever the file holds:
// each shape is parsed at n and 4n bytes and the cost may grow about fourfold, never
// sixteenfold as a quadratic parser's would (ratios, not absolute times, so a busy machine
// does not make the test fail).
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

/** The best of a few runs, after one to warm up: what the parse costs, less the machine's noise. */
function cost(text: string): number {
  parseSteps(text, 'SOP.md');
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    parseSteps(text, 'SOP.md');
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

describe('parseSteps scales linearly', () => {
  for (const [name, make] of Object.entries(SHAPES)) {
    it(`${name}: 4x the bytes cost less than 8x the time`, { timeout: 60_000 }, () => {
      const small = cost(make(32 * 1024));
      const large = cost(make(128 * 1024));
      // Below a millisecond the timer and the JIT decide, not the parser.
      const ratio = large / Math.max(small, 1);
      assert.ok(ratio < 8, `${name}: ${small.toFixed(1)} ms for 32 KiB, ${large.toFixed(1)} ms for 128 KiB (x${ratio.toFixed(1)})`);
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
