// Fuzzing: the parser properties of test/parsers.test.ts on a large budget (1,000,000
// conditions; 100,000-200,000 inputs for the other parsers), printing the inputs each parser
// takes per second. Prints figures and the first counterexample of a failing property; exits
// 1 if any failed. `npm run fuzz [-- --scale 0.1] [--only conditions] [--seed N]`.
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { PARSER_PROPERTIES } from '../test/helpers/parser-properties.js';

const args = parseArgs({ options: { scale: { type: 'string', default: '1' }, only: { type: 'string' }, seed: { type: 'string' } } }).values;
const scale = Number(args.scale);
if (!(scale > 0)) throw new Error('--scale must be a positive number');
const seed = args.seed === undefined ? Date.now() ^ (Math.random() * 0x100000000) : Number(args.seed);

console.log(`sopgate parser fuzzing — node ${process.version}, seed ${seed}, budgets x${scale}`);
let failed = 0;
for (const p of PARSER_PROPERTIES) {
  if (args.only !== undefined && !p.name.toLowerCase().includes(args.only.toLowerCase())) continue;
  const runs = Math.max(1, Math.round(p.runs.fuzz * scale));
  const t0 = performance.now();
  const result = fc.check(p.property, { numRuns: runs, seed, endOnFailure: true });
  const secs = (performance.now() - t0) / 1000;
  const rate = Math.round(result.numRuns / secs).toLocaleString('en-US');
  console.log(`  ${p.name.padEnd(22)} ${result.numRuns.toLocaleString('en-US').padStart(9)} inputs in ${secs.toFixed(1).padStart(5)} s: ${rate.padStart(9)} inputs/s  ${result.failed ? 'FAILED' : 'ok'}`);
  if (result.failed) {
    failed++;
    console.log(`    counterexample: ${JSON.stringify(result.counterexample)}\n    ${String(result.errorInstance).split('\n').slice(0, 6).join('\n    ')}`);
  }
}
process.exitCode = failed > 0 ? 1 : 0;
