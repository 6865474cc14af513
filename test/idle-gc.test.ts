import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { IdleGc } from '../src/gateway/idle-gc.js';
import { memoryLogger } from './helpers/logger.js';

const MB = 2 ** 20;

/** An IdleGc over a pretend gateway: the test sets its activity and heap, and counts collections. */
function rig(heapMb: number) {
  const state = { activity: 0, heap: heapMb * MB, collections: 0, heapAfterGc: heapMb * MB };
  const idle = new IdleGc({
    activity: () => state.activity,
    heapBytes: () => state.heap,
    gc: () => {
      state.collections++;
      state.heap = state.heapAfterGc;
    },
    logger: memoryLogger(),
  });
  return { state, idle };
}

describe('full GC once the gateway is quiet after a burst', () => {
  test('collects once the heap grew and the gateway went quiet, again a tick later, and a last time 10 quiet ticks on', () => {
    const { state, idle } = rig(14);
    state.activity += 100_000; // a burst
    state.heap = 80 * MB;
    assert.equal(idle.tick(), false, 'not while busy');
    assert.equal(state.collections, 0);
    state.heapAfterGc = 40 * MB;
    assert.equal(idle.tick(), true, 'quiet now');
    assert.equal(state.collections, 1);
    state.heapAfterGc = 30 * MB;
    assert.equal(idle.tick(), true, 'the second one');
    assert.equal(state.collections, 2);
    for (let i = 0; i < 9; i++) assert.equal(idle.tick(), false, `quiet tick ${i + 1} of 10`);
    state.heapAfterGc = 19 * MB;
    assert.equal(idle.tick(), true, 'the last one');
    assert.equal(state.collections, 3);
    for (let i = 0; i < 20; i++) assert.equal(idle.tick(), false, 'nothing more while nothing grows');
    state.heap = 19 * MB + 15 * MB;
    assert.equal(idle.tick(), false, 'grown by less than 16 MB over the heap after the last collection');
    state.heap = 19 * MB + 17 * MB;
    assert.equal(idle.tick(), true, 'grown past it');
  });

  test('a trickle is quiet; activity in between drops the collections still to come', () => {
    const { state, idle } = rig(14);
    state.heap = 60 * MB;
    state.activity += 10; // a few runs per tick is quiet
    assert.equal(idle.tick(), true);
    state.activity += 500;
    assert.equal(idle.tick(), false, 'busy again: no second collection');
    assert.equal(state.collections, 1);
    state.heap = 20 * MB;
    for (let i = 0; i < 12; i++) assert.equal(idle.tick(), false, 'quiet, and the heap is small again: nothing pending');
  });

  test('without a full GC (node started without --expose-gc) it never looks', () => {
    let looked = 0;
    const idle = new IdleGc({ activity: () => looked++, logger: memoryLogger(), gc: null });
    idle.start(1);
    idle.stop();
    assert.equal(looked, 1, 'read once when made, never by a timer');
  });

  test('V8\'s full GC is there only for a node started with --expose-gc', () => {
    const probe = `import('${pathToFileURL(join(import.meta.dirname, '../src/gateway/idle-gc.ts')).href}').then((m) => process.stdout.write(String(m.exposedGc() !== null)))`;
    const run = (flags: string[]) => spawnSync(process.execPath, [...flags, '--import', 'tsx', '-e', probe], { encoding: 'utf8' }).stdout;
    assert.equal(run([]), 'false');
    assert.equal(run(['--expose-gc']), 'true');
  });
});
