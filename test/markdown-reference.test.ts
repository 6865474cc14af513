// The line reader (src/sop/markdown.ts) against the CommonMark reading it replaced
// (test/helpers/steps-reference.ts, micromark): the same steps, titles, bodies, keys,
// actions, findings and lines, on shapes where the two once differed. Random ordinary
// documents are compared in test/parsers.test.ts ("SOP.md as CommonMark"). Keys are applied
// in line order by the line reader and list by list by the CommonMark reading, so tools and
// errors are compared as sets.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSteps } from '../src/sop/markdown.js';
import { comparable, referenceParseSteps } from './helpers/steps-reference.js';

describe('parseSteps reads ordinary documents as CommonMark does', () => {
  it('agrees on the shapes that once differed', () => {
    const docs = [
      // an empty item, a blank line, then a sibling item: one list, the blank kept
      '## Steps\n\n2. 42\n\n   42.\n\n   1. first\n   2. second\n',
      // an empty step item, then its title on the next line
      '## Steps\n\n2)\n   [docs](http://d)\n   more.\n',
      // a quote then an empty numbered line: a new step
      '## Steps\n\n3. the\n> fan\n4.\n- timeout_secs: 5\n',
      // an empty numbered line inside a paragraph is text
      '## Steps\n\n1. **A**\n\nNote\n42.\n',
      // a heading that interrupts a paragraph is a block of its own
      '## Steps\n\n1. **A**\n\nText.\n   ### Details\n',
      // a quote inside the item, then one outside it
      '## Steps\n\n1. **A**\n   > in\n> out\n   1. first\n',
      // a loose list keeps its blank line
      '## Steps\n\n1. **A** — a\n\n   - a\n\n   - b\n',
    ];
    for (const doc of docs) assert.deepEqual(comparable(parseSteps(doc, 'f')), comparable(referenceParseSteps(doc, 'f')), doc);
  });
});
