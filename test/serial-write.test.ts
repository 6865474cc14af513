// serial_write against a real pseudo-terminal (socat): the test is the device, reading
// what the step wrote and answering.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ManualClock } from './helpers/clock.js';
import type { GatewayEvent } from '../src/core/events.js';
import { createSerialWriteExecutor, type SerialPortHandle } from '../src/executors/serial-write.js';
import type { StepOutcome } from '../src/executors/types.js';
import { parseAction } from '../src/sop/actions.js';
import type { ActionOf } from '../src/sop/types.js';
import { SerialSource, type SerialSignal } from '../src/sources/serial/index.js';
import { ptyDevice } from './helpers/pty.js';
import { eventSink, logSink } from './helpers/serial.js';
import { stepContext } from './helpers/step-context.js';
import { removeTree, tempDir } from './helpers/workspace.js';

// SerialSignal is what the daemon hands the executor.
const _handle: (s: SerialSignal) => SerialPortHandle = (s) => s;
void _handle;

let dir: string;
before(async () => (dir = await tempDir('sopgate-serial-write-')));
after(() => removeTree(dir));
let seq = 0;

async function setup(delimiter?: string) {
  const device = await ptyDevice(join(dir, `tty${++seq}`));
  const clock = new ManualClock();
  const events = eventSink();
  const logs = logSink();
  const source = new SerialSource({
    signals: [{ board: 'bench', signal: 'uart', path: device.path, format: 'line', ...(delimiter === undefined ? {} : { delimiter }) }],
    clock,
    logger: logs.logger,
    onEvent: events.onEvent,
  });
  await source.start();
  const executor = createSerialWriteExecutor(source.lookup);
  /** Runs a serial_write block as a step of a run triggered with `payload`. */
  const run = (block: string, options: { payload?: string; signal?: AbortSignal } = {}): Promise<StepOutcome> => {
    const parsed = parseAction('serial_write', block, 'SOP.md', 1);
    assert.deepEqual(parsed.errors, []);
    const event: GatewayEvent = { source: 'manual', topic: 'sop', payload: options.payload ?? '', timestamp: new Date(clock.now()).toISOString() };
    const ctx = stepContext({ runId: 'r1', sopName: 'sop', sopLocation: dir, event, ...(options.signal === undefined ? {} : { signal: options.signal }) });
    return executor.run(parsed.action as ActionOf<'serial_write'>, ctx);
  };
  return { device, clock, events, logs, source, run };
}

describe('serial_write', () => {
  test('without expect: the templated line is written and drained, the delimiter appended', async (t) => {
    const { device, source, run } = await setup();
    t.after(() => Promise.all([source.stop(), device.unplug()]));
    const outcome = await run('signal = "bench/uart"\ndata = "SET {{payload.level}}"', { payload: '{"level": 3}' });
    assert.deepEqual(outcome, { status: 'completed', output: `wrote 6 bytes to ${device.path}` });
    assert.equal(await device.waitForReceived(/\n$/), 'SET 3\n');
    // A delimiter already at the end is the line's own.
    assert.equal((await run('signal = "bench/uart"\ndata = "AT\\r\\n"')).status, 'completed');
    assert.equal(await device.waitForReceived(/AT/), 'SET 3\nAT\r\n');
  });

  test('with expect: the first matching line is the output; lines meanwhile are still events', async (t) => {
    const { device, events, source, run } = await setup();
    t.after(() => Promise.all([source.stop(), device.unplug()]));
    const step = run('signal = "bench/uart"\ndata = "PING"\nexpect = "^PONG \\\\d+$"');
    await device.waitForReceived(/PING\n/);
    await device.send('noise\r\nPONG x\nPONG 42\r\nPONG 43\n');
    assert.deepEqual(await step, { status: 'completed', output: 'PONG 42' });
    assert.deepEqual((await events.count(4)).map((e) => e.payload), ['noise', 'PONG x', 'PONG 42', 'PONG 43']);
  });

  test('no matching line within timeout_secs fails the step', async (t) => {
    const { device, clock, events, logs, source, run } = await setup();
    t.after(() => Promise.all([source.stop(), device.unplug()]));
    const step = run('signal = "bench/uart"\ndata = "PING"\nexpect = "^OK$"\ntimeout_secs = 2');
    await logs.find((l) => l.includes('wrote 5 bytes'), 'the write to drain');
    await device.send('NOK\n');
    await events.count(1);
    clock.advance(2000);
    assert.deepEqual(await step, { status: 'failed', output: '[serial_write to bench/uart: no line matching /^OK$/ within 2 s]' });
    assert.equal(clock.pending, 0);
  });

  test('exchanges on one port take turns: the second line is written once the first is answered', async (t) => {
    const { device, clock, source, run } = await setup();
    t.after(() => Promise.all([source.stop(), device.unplug()]));
    const first = run('signal = "bench/uart"\ndata = "Q1"\nexpect = "^A"');
    const second = run('signal = "bench/uart"\ndata = "Q2"\nexpect = "^A"');
    await device.waitForReceived(/Q1\n/);
    assert.equal(device.received(), 'Q1\n', 'Q2 waits for the answer to Q1');
    // The wait for a turn counts against the step's timeout.
    const third = run('signal = "bench/uart"\ndata = "Q3"\ntimeout_secs = 1');
    clock.advance(1000);
    assert.deepEqual(await third, { status: 'failed', output: `[serial_write to bench/uart: ${device.path} stayed busy with other serial_write steps for 1 s]` });
    await device.send('A1\n');
    assert.deepEqual(await first, { status: 'completed', output: 'A1' });
    await device.waitForReceived(/Q2\n/);
    await device.send('A2\n');
    assert.deepEqual(await second, { status: 'completed', output: 'A2' });
    assert.equal(device.received(), 'Q1\nQ2\n');
  });

  test('a port that is down fails the step at once with its path and the reason', async (t) => {
    const { device, logs, source, run } = await setup();
    t.after(() => source.stop());
    await device.unplug();
    await logs.find((l) => l.includes(' lost '), 'the loss');
    const outcome = await run('signal = "bench/uart"\ndata = "PING"\nexpect = "OK"');
    assert.equal(outcome.status, 'failed');
    assert.match(outcome.output, new RegExp(`^\\[serial_write to bench/uart: ${device.path} is down: .+\\]$`));
    assert.deepEqual(await run('signal = "bench/nope"\ndata = "x"'), { status: 'failed', output: '[no serial signal "bench/nope" in the board profiles]' });
  });

  test('a port lost while waiting for the answer fails the step then, not at the timeout', async (t) => {
    const { device, logs, source, run } = await setup();
    t.after(() => source.stop());
    const step = run('signal = "bench/uart"\ndata = "PING"\nexpect = "OK"\ntimeout_secs = 60');
    await logs.find((l) => l.includes('wrote 5 bytes'), 'the write to drain');
    await device.unplug();
    const outcome = await step;
    assert.equal(outcome.status, 'failed');
    assert.match(outcome.output, /went down while waiting for a line matching \/OK\//);
  });

  test('a write that cannot drain (the device stopped reading) ends at the timeout', async (t) => {
    const { device, clock, source, run } = await setup();
    t.after(async () => {
      device.resume();
      await Promise.all([source.stop(), device.unplug()]);
    });
    device.pause();
    const step = run(`signal = "bench/uart"\ndata = "${'x'.repeat(512 * 1024)}"\ntimeout_secs = 1`);
    clock.advance(1000);
    assert.deepEqual(await step, { status: 'failed', output: `[serial_write to bench/uart: the write to ${device.path} did not finish within 1 s]` });
  });

  test('a payload cannot add a line; cancelling ends the wait', async (t) => {
    const { device, source, run } = await setup();
    t.after(() => Promise.all([source.stop(), device.unplug()]));
    const injected = await run('signal = "bench/uart"\ndata = "SET {{payload}}"', { payload: '1\nREBOOT' });
    assert.deepEqual(injected, { status: 'failed', output: '[serial_write to bench/uart: the data holds the line delimiter "\\n" before its end: one serial_write sends one line]' });
    const controller = new AbortController();
    const step = run('signal = "bench/uart"\ndata = "PING"\nexpect = "OK"', { signal: controller.signal });
    await device.waitForReceived(/PING\n/);
    assert.equal(device.received(), 'PING\n', 'nothing of the refused line was written');
    controller.abort();
    assert.deepEqual(await step, { status: 'failed', output: '[cancelled]' });
  });
});
