// Board profiles: the shipped ones load clean; every problem is a finding with its file and
// line; defaults; names checked across the profiles sopgate.toml lists.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadBoardProfiles, parseBoardProfile } from '../src/config/board-profile.js';
import type { Finding } from '../src/sop/types.js';
import { REPO } from './helpers/process.js';
import { makeTree, removeTree } from './helpers/workspace.js';

const FILE = '/etc/sopgate/boards/panel.toml';
const parse = (toml: string) => parseBoardProfile(toml, FILE);
/** "line: message" of each finding, for compact assertions. */
const where = (findings: Finding[]) => findings.map((f) => `${f.line}: ${f.message}`);

describe('shipped profiles', () => {
  test('every file in boards/ loads without a finding', async () => {
    const files = (await readdir(join(REPO, 'boards'))).filter((f) => f.endsWith('.toml'));
    assert.deepEqual(files.sort(), ['nucleo-serial.toml', 'rpi-zero2w.toml', 'rpi4.toml', 'rpi5.toml', 'sim.toml']);
    for (const file of files) {
      const r = await loadBoardProfiles([file], join(REPO, 'boards'));
      assert.deepEqual([...r.errors, ...r.warnings], [], file);
      assert.equal(r.boards.length, 1, file);
    }
  });

  test('the sim board has two buttons, a lamp, a relay and a serial sensor', async () => {
    const r = await loadBoardProfiles(['boards/sim.toml'], REPO);
    const sim = r.boards[0]!;
    assert.equal(sim.gpio, 'sim');
    assert.deepEqual([...sim.signals.values()].map((s) => [s.name, s.type]), [
      ['test_button', 'gpio_in'],
      ['approve_button', 'gpio_in'],
      ['lamp', 'gpio_out'],
      ['relay', 'gpio_out'],
      ['co2_uart', 'serial'],
    ]);
    const co2 = sim.signals.get('co2_uart');
    assert.equal(co2?.type === 'serial' && co2.path, null, 'no port on a sim board');
  });
});

describe('parseBoardProfile', () => {
  test('defaults for every optional key', () => {
    const r = parse('[board]\nname = "panel"\n[signals.b]\ntype = "gpio_in"\nline = "GPIO17"\n[signals.o]\ntype = "gpio_out"\nline = "GPIO27"\n[signals.s]\ntype = "serial"\npath = "/dev/serial0"\n');
    assert.deepEqual(r.errors, []);
    const p = r.profile!;
    assert.deepEqual({ gpio: p.gpio, chip: p.chip, status_led: p.status_led, file: p.file }, { gpio: 'gpiod', chip: null, status_led: null, file: FILE });
    assert.deepEqual(p.signals.get('b'), { type: 'gpio_in', name: 'b', line: 'GPIO17', edge: 'both', bias: 'as-is', active_low: false, debounce_ms: 20, approve: null });
    assert.deepEqual(p.signals.get('o'), { type: 'gpio_out', name: 'o', line: 'GPIO27', initial: 0, active_low: false });
    assert.deepEqual(p.signals.get('s'), { type: 'serial', name: 's', path: '/dev/serial0', baud: 9600, format: 'line', delimiter: '\n', max_line_bytes: 4096, keys: null });
    assert.ok(Object.isFrozen(p) && Object.isFrozen(p.signals.get('b')));
  });

  test('approve = true or a SOP name', () => {
    const r = parse('[board]\nname = "p"\n[signals.a]\ntype = "gpio_in"\nline = "GPIO5"\napprove = true\n[signals.b]\ntype = "gpio_in"\nline = "GPIO6"\napprove = "deploy-prod"\n');
    assert.deepEqual(r.errors, []);
    const approve = (n: string) => {
      const s = r.profile!.signals.get(n);
      return s?.type === 'gpio_in' ? s.approve : undefined;
    };
    assert.deepEqual(approve('a'), { sop: null });
    assert.deepEqual(approve('b'), { sop: 'deploy-prod' });
  });

  test('unknown keys are warnings at their line', () => {
    const r = parse('[board]\nname = "p"\ncolour = "red"\n\n[signals.b]\ntype = "gpio_in"\nline = "GPIO17"\nbaud = 9600\n\n[extra]\nx = 1\n');
    assert.deepEqual(r.errors, []);
    assert.deepEqual(where(r.warnings), ['10: unknown key "extra"', '3: [board] unknown key "colour"', '8: [signals.b] unknown key "baud"']);
    assert.ok(r.warnings.every((w) => w.file === FILE));
  });

  test('bad values, each at its line', () => {
    const r = parse(
      [
        '[board]', //                1
        'name = "p"', //             2
        'gpio = "wiringpi"', //      3
        '[signals.b]', //            4
        'type = "gpio_in"', //       5
        'line = "GPIO17"', //        6
        'edge = "up"', //            7
        'bias = "pullup"', //        8
        'debounce_ms = -1', //       9
        'approve = 1', //            10
        '[signals.o]', //            11
        'type = "gpio_out"', //      12
        'line = "GPIO27"', //        13
        'initial = 2', //            14
        '[signals.s]', //            15
        'type = "serial"', //        16
        'path = "/dev/ttyUSB0"', //  17
        'format = "xml"', //         18
        'baud = 0', //               19
        'max_line_bytes = 9999999', // 20
        'delimiter = ""', //         21
        '[signals.t]', //            22
        'type = "analog"', //        23
      ].join('\n'),
    );
    assert.deepEqual(where(r.errors), [
      '3: [board] gpio must be one of gpiod, sysfs, sim, got "wiringpi"',
      '7: [signals.b] edge must be one of rising, falling, both, got "up"',
      '8: [signals.b] bias must be one of pull-up, pull-down, disabled, as-is, got "pullup"',
      '9: [signals.b] debounce_ms must be a non-negative integer, got -1',
      '10: [signals.b] approve must be true, false or a SOP name, got 1',
      '14: [signals.o] initial must be 0 or 1, got 2',
      '19: [signals.s] baud must be an integer ≥ 50, got 0',
      '18: [signals.s] format must be one of line, kv, json, got "xml"',
      '21: [signals.s] delimiter must be 1 to 16 characters, got ""',
      '20: [signals.s] max_line_bytes must be at most 1048576, got 9999999',
      '23: [signals.t] type must be one of gpio_in, gpio_out, serial, got "analog"',
    ]);
    assert.deepEqual([...r.profile!.signals.keys()], [], 'signals with errors are left out');
  });

  test('missing line or path; a sim board needs no path', () => {
    const gpiod = parse('[board]\nname = "p"\n[signals.b]\ntype = "gpio_in"\n[signals.s]\ntype = "serial"\n');
    assert.deepEqual(where(gpiod.errors), ['3: [signals.b] missing required key "line"', '5: [signals.s] missing required key "path" (the serial port, e.g. "/dev/serial0")']);
    const sim = parse('[board]\nname = "p"\ngpio = "sim"\n[signals.s]\ntype = "serial"\n');
    assert.deepEqual(sim.errors, []);
  });

  test('offsets need a chip; a number in quotes is not a name; a line used twice', () => {
    const r = parse('[board]\nname = "p"\n[signals.a]\ntype = "gpio_in"\nline = 17\n[signals.b]\ntype = "gpio_in"\nline = "17"\n[signals.c]\ntype = "gpio_in"\nline = "GPIO4"\n[signals.d]\ntype = "gpio_out"\nline = "GPIO4"\n');
    assert.deepEqual(where(r.errors), [
      '5: [signals.a] line 17 is an offset, which needs chip in [board]; or name the line ("GPIO17")',
      '8: [signals.b] line "17" is a number in quotes: write line = 17 for an offset, or the line\'s name',
      '14: [signals.d] line "GPIO4" is already used by signal "c"',
    ]);
    const chip = parse('[board]\nname = "p"\nchip = "gpiochip0"\n[signals.a]\ntype = "gpio_in"\nline = 17\n');
    assert.deepEqual(chip.errors, []);
  });

  test('status_led must name a gpio_out of the board', () => {
    for (const [target, ok] of [['lamp', true], ['button', false], ['nothing', false]] as const) {
      const r = parse(`[board]\nname = "p"\nstatus_led = "${target}"\n[signals.button]\ntype = "gpio_in"\nline = "GPIO17"\n[signals.lamp]\ntype = "gpio_out"\nline = "GPIO27"\n`);
      assert.deepEqual(where(r.errors), ok ? [] : [`3: [board] status_led "${target}" must name a gpio_out signal of this board`], target);
      assert.equal(r.profile!.status_led, ok ? target : null);
    }
  });

  test('board and signal names must be able to be a topic level', () => {
    const r = parse('[board]\nname = "line/1"\n[signals."a+b"]\ntype = "gpio_in"\nline = "GPIO17"\n[signals.ok]\ntype = "serial"\npath = "/dev/x"\nformat = "kv"\nkeys = ["co2", "t#"]\n');
    assert.deepEqual(where(r.errors), [
      '2: [board] name "line/1" cannot be a topic level: it contains "/", "+" or "#"',
      '3: signal name "a+b" cannot be a topic level: it contains "/", "+" or "#"',
      '10: [signals.ok] key "t#" cannot be a topic level: it contains "/", "+" or "#"',
    ]);
    assert.deepEqual(where(parse('[board]\nname = "$SYS"\n').errors), ['2: [board] name "$SYS" cannot be a topic level: it starts with "$"']);
  });

  test('keys belong to kv lines; a key named like another signal is a warning', () => {
    const r = parse('[board]\nname = "p"\n[signals.j]\ntype = "serial"\npath = "/dev/a"\nformat = "json"\nkeys = ["x"]\n[signals.k]\ntype = "serial"\npath = "/dev/b"\nformat = "kv"\nkeys = ["temp", "j"]\n');
    assert.deepEqual(r.errors, []);
    assert.deepEqual(where(r.warnings), ['7: [signals.j] keys is read only with format = "kv"', '12: [signals.k] key "j" and signal "j" both make events p/j']);
  });

  test('not TOML, no [board], no name', () => {
    const notToml = parse('[board\nname = 1');
    assert.equal(notToml.errors.length, 1);
    assert.equal(notToml.errors[0]!.line, 1);
    assert.match(notToml.errors[0]!.message, /^TOML syntax error at line 1, column \d+: /);
    assert.deepEqual(where(parse('[signals.a]\ntype = "gpio_in"\n').errors), ['null: missing [board] table']);
    const noName = parse('[board]\ngpio = "sim"\n');
    assert.deepEqual(where(noName.errors), ['1: [board] missing required key "name"']);
    assert.equal(noName.profile, null);
  });
});

describe('loadBoardProfiles', () => {
  let dir: string;
  after(() => removeTree(dir));

  test('reads the listed files relative to the config folder; a board name appears once', async () => {
    dir = await makeTree({
      'boards/a.toml': '[board]\nname = "panel"\ngpio = "sim"\n',
      'boards/b.toml': '# the same board again\n[board]\nname = "panel"\ngpio = "sim"\n',
      'boards/c.toml': '[board]\nname = "nucleo"\n',
    });
    const r = await loadBoardProfiles(['boards/a.toml', 'boards/b.toml', join(dir, 'boards/c.toml'), 'boards/missing.toml'], dir);
    assert.deepEqual(r.boards.map((b) => [b.name, b.file]), [['panel', join(dir, 'boards/a.toml')], ['nucleo', join(dir, 'boards/c.toml')]]);
    assert.deepEqual(r.errors, [
      { message: `board name "panel" is already used by ${join(dir, 'boards/a.toml')}`, file: join(dir, 'boards/b.toml'), line: 3 },
      { message: 'cannot read board profile: no such file', file: join(dir, 'boards/missing.toml'), line: null },
    ]);
  });
});
