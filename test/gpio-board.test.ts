// GpioBoard over the sim backend, on a manual clock: debounce, active_low, the edge filter,
// approval presses, outputs written and pulsed, the status LED, the sim's record of
// writes; and the debouncer on its own.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Level } from '../src/config/board-profile.js';
import { ManualClock } from './helpers/clock.js';
import { Debouncer } from '../src/sources/gpio/debounce.js';
import { SimBackend } from '../src/sources/gpio/sim.js';
import { settle } from './helpers/engine.js';
import { profile, recordingBoard } from './helpers/gpio.js';

const SIM = `
[board]
name = "sim"
gpio = "sim"
status_led = "busy"

[signals.button]
type = "gpio_in"
line = "GPIO17"
active_low = true
approve = "deploy-prod"

[signals.door]
type = "gpio_in"
line = "GPIO4"
edge = "rising"
debounce_ms = 0

[signals.lamp]
type = "gpio_out"
line = "GPIO27"

[signals.relay]
type = "gpio_out"
line = "GPIO22"
active_low = true
initial = 1

[signals.busy]
type = "gpio_out"
line = "GPIO24"

[signals.uart]
type = "serial"
`;

function debouncer(ms: number, known: Level | null = null) {
  const clock = new ManualClock();
  const changes: [number, Level][] = [];
  const start = clock.now();
  const d = new Debouncer(ms, clock, (level) => changes.push([clock.now() - start, level]));
  if (known !== null) d.know(known);
  return { clock, d, changes };
}

describe('Debouncer', () => {
  test('a bouncing press is one change, reported when the window closes', () => {
    const { clock, d, changes } = debouncer(20, 0);
    d.edge(1);
    clock.advance(2);
    d.edge(0);
    clock.advance(3);
    d.edge(1);
    clock.advance(14);
    assert.deepEqual(changes, []);
    clock.advance(1);
    assert.deepEqual(changes, [[20, 1]]);
    assert.equal(d.level, 1);
  });

  test('a bounce that ends where it began is no change', () => {
    const { clock, d, changes } = debouncer(20, 0);
    d.edge(1);
    clock.advance(5);
    d.edge(0);
    clock.advance(100);
    assert.deepEqual(changes, []);
    assert.equal(d.level, 0);
  });

  test('without a known level, the first edge tells what the level was before it', () => {
    const { clock, d, changes } = debouncer(20);
    assert.equal(d.level, null);
    d.edge(0); // a falling edge: it was 1
    d.edge(1);
    clock.advance(20);
    assert.deepEqual(changes, [], 'back where it began');
    d.edge(0);
    clock.advance(20);
    assert.deepEqual(changes, [[40, 0]]);
  });

  test('the window does not restart: a line that never stops chattering still reports', () => {
    const { clock, d, changes } = debouncer(20, 0);
    // An edge every 3 ms for 100 ms, alternating 1, 0, 1, ...
    for (let t = 0; t < 100; t++) {
      if (t % 3 === 0) d.edge((t / 3) % 2 === 0 ? 1 : 0);
      clock.advance(1);
    }
    // Windows open at the first edge after the last one closed (0, 21, 42, 63) and take the level then.
    assert.deepEqual(changes, [[20, 1], [41, 0], [62, 1], [83, 0]]);
  });

  test('debounce 0: every change at once, repeated levels ignored', () => {
    const { d, changes } = debouncer(0, 0);
    d.edge(1);
    d.edge(1);
    d.edge(0);
    assert.deepEqual(changes, [[0, 1], [0, 0]]);
  });
});

describe('GpioBoard over the sim backend', () => {
  async function simBoard(toml = SIM) {
    const clock = new ManualClock();
    let backend!: SimBackend;
    const r = recordingBoard(profile(toml), clock, { backend: (lines, ctx) => (backend = new SimBackend(lines, ctx)) });
    await r.board.start();
    return { ...r, clock, backend: () => backend };
  }

  test('a press through the debounce is one logical event; active_low; the approval press', async () => {
    const { board, events, presses, clock, backend, stateOf } = await simBoard();
    assert.equal(stateOf('button')?.value, 0, 'released at start');
    assert.deepEqual(board.simulate('button', 1), { ok: true });
    assert.equal(backend().level('button'), 0, 'pressed pulls the line low');
    assert.deepEqual(board.simulate('button', 1), { ok: true });
    clock.advance(19);
    assert.equal(events.length, 0);
    clock.advance(1);
    assert.deepEqual(events, [{ source: 'peripheral', topic: 'sim/button', payload: '1', timestamp: '2026-01-01T00:00:00.020Z' }]);
    assert.deepEqual(presses, [{ board: 'sim', signal: 'button', sop: 'deploy-prod' }]);

    // A bounce on release that comes back pressed: nothing.
    board.simulate('button', 0);
    clock.advance(5);
    board.simulate('button', 1);
    clock.advance(50);
    assert.equal(events.length, 1);
    board.simulate('button', 0);
    clock.advance(20);
    assert.deepEqual(events.map((e) => e.payload), ['1', '0']);
    assert.equal(presses.length, 1, 'a release approves nothing');
    const state = stateOf('button')!;
    assert.deepEqual(state, { board: 'sim', signal: 'button', type: 'gpio_in', backend: 'sim', state: 'up', value: 0, last_event_at: '2026-01-01T00:00:00.095Z', error: null, events: 2 });
    await board.stop();
    assert.equal(clock.pending, 0);
  });

  test('edge = "rising": only presses are events; the value still follows the line', async () => {
    const { board, events, stateOf } = await simBoard();
    board.simulate('door', 1);
    board.simulate('door', 0);
    board.simulate('door', 1);
    assert.deepEqual(events.map((e) => [e.topic, e.payload]), [['sim/door', '1'], ['sim/door', '1']]);
    board.simulate('door', 0);
    assert.equal(stateOf('door')?.value, 0);
    assert.deepEqual(board.counters(), { button: 0, door: 2, lamp: 0, relay: 0, busy: 0 });
  });

  test('outputs: initial levels, writes as logical values, the last 100 kept', async () => {
    const { board, backend, stateOf } = await simBoard();
    assert.equal(stateOf('relay')?.value, 1);
    assert.equal(backend().level('relay'), 0, 'an active-low relay that is on is driven low');
    assert.deepEqual(await board.write('relay', 0), { ok: true });
    assert.equal(backend().level('relay'), 1);
    assert.deepEqual(board.simRead('relay'), { signal: 'relay', type: 'gpio_out', value: 0, writes: [{ value: 0, at: '2026-01-01T00:00:00.000Z' }] });
    for (let i = 0; i < 105; i++) await board.write('lamp', (i % 2) as Level);
    const lamp = board.simRead('lamp')!;
    assert.equal(lamp.writes.length, 100);
    assert.equal(lamp.writes[0]!.value, 1, 'the five oldest writes are gone');
    assert.equal(lamp.value, 0);
    assert.equal(stateOf('lamp')?.events, 105);
  });

  test('pulse: the value for ms, then the other; a write in between takes over', async () => {
    const { board, clock } = await simBoard();
    const writes = () => board.simRead('lamp')!.writes.map((w) => w.value);
    const pulse = board.pulse('lamp', 1, 500);
    await settle();
    assert.deepEqual(writes(), [1]);
    clock.advance(499);
    await settle();
    assert.deepEqual(writes(), [1]);
    clock.advance(1);
    assert.deepEqual(await pulse, { ok: true });
    assert.deepEqual(writes(), [1, 0]);

    const cut = board.pulse('lamp', 1, 500);
    await settle();
    await board.write('lamp', 1);
    assert.deepEqual(await cut, { ok: true });
    clock.advance(1000);
    await settle();
    assert.deepEqual(writes(), [1, 0, 1, 1], 'no return to 0 after the write');
    assert.equal(clock.pending, 0);
  });

  test('the status LED blinks while runs wait for approval, and is off after', async () => {
    const { board, clock } = await simBoard();
    const busy = async () => {
      await settle();
      return board.simRead('busy')!.writes.map((w) => w.value);
    };
    board.setWaitingApprovals(2);
    assert.deepEqual(await busy(), [1]);
    clock.advance(500);
    assert.deepEqual(await busy(), [1, 0]);
    board.setWaitingApprovals(1);
    clock.advance(500);
    assert.deepEqual(await busy(), [1, 0, 1]);
    board.setWaitingApprovals(0);
    assert.deepEqual(await busy(), [1, 0, 1, 0]);
    clock.advance(5000);
    assert.deepEqual(await busy(), [1, 0, 1, 0], 'stopped');
    assert.equal(clock.pending, 0);
  });

  test('wrong signals and wrong boards are errors, not exceptions', async () => {
    const { board, events, clock } = await simBoard();
    assert.deepEqual(await board.write('button', 1), { ok: false, error: '"button" is not a gpio_out of board "sim"' });
    assert.deepEqual(board.simulate('lamp', 1), { ok: false, error: '"lamp" is not a gpio_in of board "sim"' });
    assert.deepEqual(board.simulate('uart', 1), { ok: false, error: '"uart" is not a gpio_in of board "sim"' });
    assert.equal(board.simRead('nothing'), null);
    assert.deepEqual(board.state().map((s) => s.signal), ['button', 'door', 'lamp', 'relay', 'busy'], 'serial signals are not GPIO');

    const gpiod = recordingBoard(profile('[board]\nname = "real"\n'), clock);
    await gpiod.board.start();
    assert.deepEqual(gpiod.board.simulate('x', 1), { ok: false, error: 'board "real" is not a sim board (gpio = "gpiod")' });

    // A listener that throws is logged; the board carries on.
    const throwing = recordingBoard(profile(SIM), clock, { onEvent: () => { throw new Error('boom'); } });
    await throwing.board.start();
    throwing.board.simulate('door', 1);
    throwing.board.simulate('door', 0);
    throwing.board.simulate('door', 1);
    assert.equal(throwing.logger.lines.filter((l) => /error \[sopgate\] board sim: the event listener failed: boom/.test(l)).length, 2);
    assert.equal(throwing.stateOf('door')?.events, 2);
    assert.equal(events.length, 0);
    await board.stop();
    assert.deepEqual(await board.write('lamp', 1), { ok: false, error: 'board "sim" is not running' });
  });
});
