import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Observed {
  young: { before: number; held: number; released: number };
  /** V8's optimisation status bits of a hot function (16 = optimised). */
  opt: { held: number; released: number };
}

/**
 * V8 flags are global to a process, so each case runs in a child: while the flags are held
 * it fills the heap with objects that survive scavenges (as a first start's SOP.md parses
 * do) and runs a function hot, then does both again once they are released.
 */
function observe(flags: string[] = [], env: NodeJS.ProcessEnv = {}): Observed {
  const script = `
    import { getHeapSpaceStatistics } from 'node:v8';
    import { holdForStartup } from './src/daemon/startup-flags.ts';
    const young = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
    const status = new Function('f', 'return %GetOptimizationStatus(f)');
    const keep = [];
    const survive = () => { for (let i = 0; i < 300_000; i++) keep.push({ i, text: 'reading ' + i }); };
    function hot(x) { return (x * 31 + 7) % 1009; }
    const run = () => { let n = 0; for (let i = 0; i < 3_000_000; i++) n += hot(i); return n; };
    // The caller stays unoptimised, so hot is not inlined into it and tiers up by itself.
    new Function('f', '%NeverOptimizeFunction(f)')(run);
    // TurboFan compiles on a background thread: keep the function hot until its code is in (bounded).
    const hotUntilOptimised = () => { for (let k = 0; k < 40 && (status(hot) & 16) === 0; k++) run(); return status(hot); };
    const before = young();
    const release = holdForStartup();
    survive();
    const held = { young: young(), opt: process.env.EXPECT_HELD_OPT ? hotUntilOptimised() : (run(), run(), run(), status(hot)) };
    release();
    survive();
    const released = hotUntilOptimised();
    console.log(JSON.stringify({ young: { before, held: held.young, released: young() }, opt: { held: held.opt, released } }));`;
  const child = spawnSync(process.execPath, [...flags, '--allow-natives-syntax', '--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  assert.equal(child.status, 0, child.stderr);
  return JSON.parse(child.stdout) as Observed;
}

const OPTIMIZED = 16;

describe('V8 flags held while the gateway starts', () => {
  test('the young generation does not grow and nothing is optimised while held; both come back once released', () => {
    const { young, opt } = observe();
    assert.equal(young.held, young.before, 'no growth while held, however much survives');
    assert.ok(young.released > young.held, `V8's own growth is back once released (${young.held} → ${young.released} bytes)`);
    assert.equal(opt.held & OPTIMIZED, 0, `not optimised while held (status ${opt.held})`);
    assert.equal(opt.released & OPTIMIZED, OPTIMIZED, `optimised once released (status ${opt.released})`);
  });

  test("an operator's own settings are left alone", () => {
    // The operator's TurboFan stays on: wait for it to optimise while "held".
    const { young, opt } = observe(['--semi-space-growth-factor=4', '--turbofan'], { EXPECT_HELD_OPT: '1' });
    assert.ok(young.held > young.before, `the young generation grew as the operator's flag says (${young.before} → ${young.held} bytes)`);
    assert.equal(opt.held & OPTIMIZED, OPTIMIZED, `optimised as the operator's flag allows (status ${opt.held})`);
  });
});
