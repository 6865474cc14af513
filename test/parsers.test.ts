// Every parser of untrusted text, on random input: a value or well-formed findings, never
// an exception; and the SOP.md line reader agrees with the CommonMark reading on ordinary
// documents (test/helpers/parser-properties.ts; `npm run fuzz` runs the same on a large budget).
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { PARSER_PROPERTIES } from './helpers/parser-properties.js';

describe('parsers on random input', () => {
  for (const p of PARSER_PROPERTIES) {
    it(`${p.name} (${p.runs.test} inputs)`, () => {
      fc.assert(p.property, { numRuns: p.runs.test });
    });
  }
});
