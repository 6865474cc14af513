// gpio_write over the gateway's hardware: a sim board's outputs (a real GpioBoard on the
// sim backend), moved by a manual clock.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ManualClock } from './helpers/clock.js';
import { memoryLogger } from './helpers/logger.js';
import { createExecutors } from '../src/executors/index.js';
import type { StepContext } from '../src/executors/types.js';
import { Hardware } from '../src/gateway/hardware.js';
import type { ActionOf } from '../src/sop/types.js';
import { profile } from './helpers/gpio.js';

const PANEL = `[board]
name = "panel"
gpio = "sim"

[signals.lamp]
type = "gpio_out"
line = "GPIO27"

[signals.relay]
type = "gpio_out"
line = "GPIO22"
active_low = true
initial = 0

[signals.button]
type = "gpio_in"
line = "GPIO17"
`;

const BROKEN = `[board]
name = "shed"
gpio = "sim"

[signals.light]
type = "gpio_out"
line = "GPIO4"
`;

let clock: ManualClock;
let hardware: Hardware;
before(async () => {
  clock = new ManualClock();
  const panel = profile(PANEL, '/boards/panel.toml');
  // Its profile has an error elsewhere: the board is listed but not started.
  const shed = profile(BROKEN, '/boards/shed.toml');
  hardware = new Hardware({
    profiles: { boards: [panel, shed], errors: [{ message: 'something wrong', file: '/boards/shed.toml', line: 3 }], warnings: [] },
    clock,
    logger: memoryLogger(),
    onEvent: () => {},
    onApprovePress: () => {},
  });
  await hardware.start();
});
after(() => hardware.stop());

const gpioWrite = () => createExecutors({ clock, logger: memoryLogger() }, { gpio: hardware.gpioOutput }).gpio_write!;

function ctx(signal = new AbortController().signal): StepContext {
  return { runId: 'r', sopName: 's', sopLocation: '/tmp', stepNumber: 1, totalSteps: 1, event: { source: 'manual', timestamp: '2026-01-01T00:00:00.000Z' }, outputs: new Map(), timeoutSecs: null, signal };
}
const action = (args: ActionOf<'gpio_write'>['args']): ActionOf<'gpio_write'> => ({ tool: 'gpio_write', source: '', args });
const writes = (signal: string) => (hardware.simRead('panel', signal) as { ok: true; reading: { writes: { value: number }[] } }).reading.writes.map((w) => w.value);

/** Lets pending promise callbacks run, so "not settled yet" is observed, not assumed. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true));
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe('gpio_write', () => {
  test('writes a logical value and says so', async () => {
    assert.deepEqual(await gpioWrite().run(action({ signal: 'panel/lamp', value: 1 }), ctx()), { status: 'completed', output: 'wrote 1 to panel/lamp' });
    assert.deepEqual(writes('lamp'), [1]);
  });

  test('a pulse sets the value, waits pulse_ms on the clock and sets it back; the step ends after', async () => {
    const step = gpioWrite().run(action({ signal: 'panel/relay', value: 1, pulse_ms: 250 }), ctx());
    assert.equal(await settled(step), false);
    assert.deepEqual(writes('relay'), [1]);
    clock.advance(249);
    assert.equal(await settled(step), false);
    clock.advance(1);
    assert.deepEqual(await step, { status: 'completed', output: 'pulsed panel/relay: 1 for 250 ms, then 0' });
    assert.deepEqual(writes('relay'), [1, 0]);
  });

  test('a cancelled run ends its pulse at once, the line back where the pulse leaves it', async () => {
    const abort = new AbortController();
    const before = writes('lamp').length;
    const step = gpioWrite().run(action({ signal: 'panel/lamp', value: 0, pulse_ms: 10_000 }), ctx(abort.signal));
    assert.equal(await settled(step), false);
    abort.abort();
    assert.deepEqual(await step, { status: 'failed', output: '[cancelled]' });
    assert.deepEqual(writes('lamp').slice(before), [0, 1]);
    clock.advance(10_000);
    await settled(step);
    assert.deepEqual(writes('lamp').slice(before), [0, 1], 'nothing more when the pulse would have ended');
  });

  test('a signal that is not a gpio_out, or unknown, fails the step with its name', async () => {
    for (const signal of ['panel/button', 'panel/nope', 'nope/lamp', 'lamp']) {
      assert.deepEqual(await gpioWrite().run(action({ signal, value: 1 }), ctx()), { status: 'failed', output: `[no gpio_out ${JSON.stringify(signal)} in the board profiles]` });
    }
  });

  test('a signal that is down fails at once with the reason', async () => {
    const outcome = await gpioWrite().run(action({ signal: 'shed/light', value: 1, pulse_ms: 60_000 }), ctx());
    assert.equal(outcome.status, 'failed');
    assert.match(outcome.output, /^\[gpio_write to shed\/light: the signal is down: not started: its profile has errors/);
  });

  test('without the boards, gpio_write steps fail', async () => {
    const outcome = await createExecutors({ clock, logger: memoryLogger() }).gpio_write!.run(action({ signal: 'panel/lamp', value: 1 }), ctx());
    assert.deepEqual(outcome, { status: 'failed', output: '[no gpio_out "panel/lamp" in the board profiles]' });
  });
});
