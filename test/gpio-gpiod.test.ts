// The gpiod backend against stand-ins of libgpiod's tools (1.6 and 2.x syntax) first on
// PATH: the right command lines, edges in their real formats turned into events, outputs
// held and changed, a monitor that dies started again with back-off, a busy line or a
// missing tool costing only its own signals.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { ManualClock } from './helpers/clock.js';
import { systemClock } from '../src/core/clock.js';
import { fakeGpiod, isAlive, profile, recordingBoard, type FakeGpiod, type FakeProc } from './helpers/gpio.js';
import { REPO, until } from './helpers/process.js';

const PANEL = `
[board]
name = "panel"
gpio = "gpiod"

[signals.test_button]
type = "gpio_in"
line = "GPIO17"
bias = "pull-up"
active_low = true
debounce_ms = 0
approve = true

[signals.door]
type = "gpio_in"
line = "GPIO4"
debounce_ms = 0

[signals.lamp]
type = "gpio_out"
line = "GPIO27"

[signals.relay]
type = "gpio_out"
line = "GPIO22"
initial = 1
active_low = true
`;

const fakes: FakeGpiod[] = [];
after(() => Promise.all(fakes.map((f) => f.remove())));
async function tools(version: string, options: Parameters<typeof fakeGpiod>[1] = {}) {
  const f = await fakeGpiod(version, options);
  fakes.push(f);
  return f;
}

/** The running fake `tool` holding `offset`, once there is one (other than `not`). */
function holder(f: FakeGpiod, tool: string, offset: number, not?: number) {
  return until(async () => (await f.procs()).find((p) => p.tool === tool && p.pid !== not && p.held.some((h) => h.offset === offset)), `${tool} holding ${offset}`);
}

for (const version of ['1.6.3', '2.1.3']) {
  const v1 = version.startsWith('1.');
  describe(`gpiod backend, libgpiod ${version}`, () => {
    test('watches inputs and holds outputs in the tools\' own syntax; edges become logical events', async () => {
      const f = await tools(version);
      const { board, events, presses, stateOf } = recordingBoard(profile(PANEL), systemClock, { gpiod: { env: f.env } });
      await board.start();
      try {
        const button = await holder(f, 'gpiomon', 17);
        const door = await holder(f, 'gpiomon', 4);
        assert.notEqual(button.pid, door.pid, 'one gpiomon per bias');
        assert.deepEqual(
          button.args,
          v1 ? ['-b', '-F', '%o %e %s %n', '-B', 'pull-up', 'gpiochip0', '17'] : ['--banner', '-C', 'sopgate', '-F', '%o %e %S %l', '-e', 'both', '-b', 'pull-up', 'GPIO17'],
        );
        const lamp = await holder(f, 'gpioset', 27);
        const relay = await holder(f, 'gpioset', 22);
        assert.deepEqual(lamp.args, v1 ? ['--mode=signal', 'gpiochip0', '27=0'] : ['--banner', '-C', 'sopgate', 'GPIO27=0']);
        assert.equal(relay.held[0]!.value, 0, 'an active-low relay that starts on is driven low');
        await until(async () => (board.state().every((s) => s.state === 'up') ? true : undefined), 'every signal up');

        // The button pulls the line low when pressed: logical 1.
        await f.edge(button.pid, 17, 0);
        await until(async () => events[0], 'the press');
        await f.edge(button.pid, 17, 1);
        await f.edge(door.pid, 4, 1);
        await until(async () => (events.length === 3 ? true : undefined), 'three events');
        assert.deepEqual(
          events.map((e) => [e.source, e.topic, e.payload]),
          [['peripheral', 'panel/test_button', '1'], ['peripheral', 'panel/test_button', '0'], ['peripheral', 'panel/door', '1']],
        );
        assert.ok(events.every((e) => !Number.isNaN(Date.parse(e.timestamp))));
        assert.deepEqual(presses, [{ board: 'panel', signal: 'test_button', sop: null }]);
        assert.equal(stateOf('test_button')?.events, 2);

        // Changing an output ends its gpioset and starts another at the new level.
        assert.deepEqual(await board.write('lamp', 1), { ok: true });
        const lit = await holder(f, 'gpioset', 27, lamp.pid);
        assert.equal(lit.held[0]!.value, 1);
        assert.equal(isAlive(lamp.pid), false);
        assert.equal(stateOf('lamp')?.value, 1);
      } finally {
        await board.stop();
      }
      assert.deepEqual(await f.procs(), [], 'stop ends every tool');
    });

    test('lines given as offsets on a chip', async () => {
      const f = await tools(version);
      const p = profile(`[board]\nname = "b"\nchip = "gpiochip0"\n[signals.in]\ntype = "gpio_in"\nline = 5\ndebounce_ms = 0\n[signals.out]\ntype = "gpio_out"\nline = 6\ninitial = 1\n`);
      const { board, events } = recordingBoard(p, systemClock, { gpiod: { env: f.env } });
      await board.start();
      try {
        const mon = await holder(f, 'gpiomon', 5);
        assert.deepEqual(mon.args, v1 ? ['-b', '-F', '%o %e %s %n', 'gpiochip0', '5'] : ['--banner', '-C', 'sopgate', '-F', '%o %e %S %l', '-e', 'both', '-c', 'gpiochip0', '5']);
        const out = await holder(f, 'gpioset', 6);
        assert.equal(out.held[0]!.value, 1);
        await f.edge(mon.pid, 5, 1);
        await until(async () => events[0], 'the edge');
        assert.equal(events[0]!.topic, 'b/in');
      } finally {
        await board.stop();
      }
    });

    test('a line another program holds is down with EBUSY; the rest of the board runs', async () => {
      const f = await tools(version);
      const squatter = spawn('gpioset', v1 ? ['--mode=signal', 'gpiochip0', '27=1'] : ['GPIO27=1'], { env: f.env, stdio: 'ignore' });
      await holder(f, 'gpioset', 27);
      // A v1 gpioset says nothing when it holds its line: the backend counts one that has run
      // settleMs as holding it. The stand-in is a Node.js script that may take long to start
      // on a busy machine, and must fail with EBUSY before that.
      const { board, stateOf } = recordingBoard(profile(PANEL), systemClock, { gpiod: { env: f.env, settleMs: 3000 } });
      await board.start();
      try {
        await until(async () => (/busy/i.test(stateOf('lamp')?.error ?? '') ? true : undefined), 'lamp down with EBUSY');
        assert.equal(stateOf('lamp')?.state, 'down');
        await until(async () => (['test_button', 'door', 'relay'].every((s) => stateOf(s)?.state === 'up') ? true : undefined), 'the others up');
        const write = await board.write('lamp', 1);
        assert.equal(write.ok, false);
        assert.match(write.ok ? '' : write.error, /busy/i);
      } finally {
        squatter.kill('SIGKILL');
        await board.stop();
      }
    });

    test('a line name no chip has: that signal is down, the others run', async () => {
      const f = await tools(version);
      const p = profile(PANEL.replace('line = "GPIO4"', 'line = "NO_SUCH_LINE"'));
      const { board, stateOf } = recordingBoard(p, systemClock, { gpiod: { env: f.env } });
      await board.start();
      try {
        assert.equal(stateOf('door')?.state, 'down');
        assert.match(stateOf('door')?.error ?? '', /NO_SUCH_LINE/);
        await until(async () => (['test_button', 'lamp', 'relay'].every((s) => stateOf(s)?.state === 'up') ? true : undefined), 'the others up');
      } finally {
        await board.stop();
      }
    });

    test('no child outlives the process that owns the board, even killed with SIGKILL', async () => {
      const f = await tools(version);
      const owner = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/gpio-owner.ts'], { cwd: REPO, env: { ...f.env, BOARD_PROFILE: PANEL }, stdio: ['ignore', 'pipe', 'inherit'] });
      let children: FakeProc[] = [];
      try {
        await new Promise<void>((resolve, reject) => {
          owner.stdout.setEncoding('utf8').on('data', (text: string) => text.includes('ready') && resolve());
          owner.once('exit', (code) => reject(new Error(`owner exited (${code})`)));
        });
        children = await until(async () => {
          const procs = await f.procs();
          return procs.length === 4 ? procs : undefined;
        }, 'two gpiomon and two gpioset');
        owner.kill('SIGKILL');
        await until(async () => (children.every((c) => !isAlive(c.pid)) ? true : undefined), 'every tool gone after the owner was killed');
      } finally {
        owner.kill('SIGKILL');
        for (const c of children) if (isAlive(c.pid)) process.kill(c.pid, 'SIGKILL'); // orphans of a failed run
      }
    });
  });
}

describe('gpiod backend: supervision', () => {
  test('a monitor that dies is started again after 1 s, then 2 s', async () => {
    const f = await tools('2.1.3');
    const clock = new ManualClock();
    const { board, stateOf, logger, events } = recordingBoard(profile(PANEL), clock, { gpiod: { env: f.env } });
    await board.start();
    try {
      const first = await holder(f, 'gpiomon', 4);
      await until(async () => (stateOf('door')?.state === 'up' ? true : undefined), 'door up');

      process.kill(first.pid, 'SIGKILL');
      await until(async () => (stateOf('door')?.state === 'down' ? true : undefined), 'door down');
      assert.match(stateOf('door')?.error ?? '', /SIGKILL/);
      assert.ok(logger.lines.some((l) => /gpiomon \(door\): .*starting it again in 1 s/.test(l)), logger.lines.join('\n'));
      clock.advance(999);
      assert.equal(stateOf('door')?.state, 'down', 'not before the second is up');
      clock.advance(1);
      assert.equal(stateOf('door')?.state, 'starting');
      const second = await holder(f, 'gpiomon', 4, first.pid);
      await until(async () => (stateOf('door')?.state === 'up' ? true : undefined), 'door up again');
      await f.edge(second.pid, 4, 1);
      await until(async () => events[0], 'an edge from the new monitor');

      process.kill(second.pid, 'SIGKILL');
      await until(async () => (stateOf('door')?.state === 'down' ? true : undefined), 'door down again');
      clock.advance(1999);
      assert.equal(stateOf('door')?.state, 'down', 'the wait doubled');
      clock.advance(1);
      await holder(f, 'gpiomon', 4, second.pid);
    } finally {
      await board.stop();
    }
    assert.deepEqual(await f.procs(), []);
    assert.equal(clock.pending, 0, 'no retry left armed');
  });

  test('without the gpiod tools: one clear line naming the package; the signals are down', async () => {
    const f = await tools('2.1.3', { tools: [], systemPath: false });
    const { board, stateOf, logger } = recordingBoard(profile(PANEL), systemClock, { gpiod: { env: f.env } });
    await board.start();
    try {
      for (const s of board.state()) {
        assert.equal(s.state, 'down');
        assert.match(s.error ?? '', /install the "gpiod" package/);
      }
      const errors = logger.lines.filter((l) => l.startsWith('error'));
      assert.equal(errors.length, 1, logger.lines.join('\n'));
      assert.match(errors[0]!, /board panel: gpiomon not found: install the "gpiod" package/);
      const write = await board.write('lamp', 1);
      assert.equal(write.ok, false);
      assert.equal(stateOf('lamp')?.value, null);
    } finally {
      await board.stop();
    }
  });

  test('without setpriv: a warning, and stop still ends every child', async () => {
    const f = await tools('2.1.3', { systemPath: false });
    const { board, logger } = recordingBoard(profile(PANEL), systemClock, { gpiod: { env: f.env } });
    await board.start();
    try {
      assert.ok(logger.lines.some((l) => /warn .*setpriv not found/.test(l)), logger.lines.join('\n'));
      await until(async () => ((await f.procs()).length === 4 ? true : undefined), 'four tools');
    } finally {
      await board.stop();
    }
    assert.deepEqual(await f.procs(), []);
  });
});
