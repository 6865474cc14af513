// The sysfs backend: line numbers worked out from a (fake) tree of gpiochip*/base and label,
// the clear failures of a kernel without GPIO sysfs or a missing onoff, and outputs driven
// through the real onoff package over a fake /sys/class/gpio in a private mount namespace.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { systemClock } from '../src/core/clock.js';
import { SysfsBackend } from '../src/sources/gpio/sysfs.js';
import { resolveSysfsLine } from '../src/sources/gpio/sysfs-lines.js';
import { profile, recordingBoard } from './helpers/gpio.js';
import { REPO, runCommand } from './helpers/process.js';
import { makeTree, removeTree } from './helpers/workspace.js';

/** A sysfs gpiochip folder: base, ngpio, label and the character device's name under device/. */
function chip(base: number, ngpio: number, label: string, device: string): Record<string, string> {
  const dir = `gpiochip${base}`;
  return { [`${dir}/base`]: `${base}\n`, [`${dir}/ngpio`]: `${ngpio}\n`, [`${dir}/label`]: `${label}\n`, [`${dir}/device/${device}/dev`]: '254:0\n', export: '', unexport: '' };
}

describe('resolveSysfsLine', () => {
  const roots: Record<string, string> = {};
  before(async () => {
    roots.pi4new = await makeTree({ ...chip(512, 58, 'pinctrl-bcm2711', 'gpiochip0'), ...chip(570, 8, 'raspberrypi-exp-gpio', 'gpiochip1') });
    roots.pi4old = await makeTree({ ...chip(0, 58, 'pinctrl-bcm2711', 'gpiochip0'), ...chip(504, 8, 'raspberrypi-exp-gpio', 'gpiochip1') });
    roots.pi5 = await makeTree({ ...chip(512, 32, 'gpio-brcmstb@107d508500', 'gpiochip0'), ...chip(571, 54, 'pinctrl-rp1', 'gpiochip4') });
    roots.other = await makeTree(chip(0, 32, 'gpio-mockup-A', 'gpiochip0'));
  });
  after(() => Promise.all(Object.values(roots).map(removeTree)));
  const number = (root: string, c: string | null, line: string | number) => {
    const r = resolveSysfsLine(roots[root]!, c, line);
    return r.ok ? r.number : r.error.replace(roots[root]!, '<root>');
  };

  test('a header name on the Pi\'s header chip, wherever its base is', () => {
    assert.equal(number('pi4new', null, 'GPIO17'), 529);
    assert.equal(number('pi4old', null, 'GPIO17'), 17);
    assert.equal(number('pi5', null, 'GPIO17'), 588);
  });

  test('an offset on a chip named by label, character device or sysfs folder', () => {
    for (const c of ['gpiochip0', 'pinctrl-bcm2711', 'gpiochip512']) assert.equal(number('pi4new', c, 17), 529, c);
    assert.equal(number('pi4new', 'gpiochip1', 2), 572);
    assert.equal(number('pi5', 'gpiochip4', 'GPIO4'), 575);
  });

  test('what cannot be resolved says why', () => {
    assert.equal(number('pi4new', 'gpiochip9', 1), 'no chip "gpiochip9" in <root> (chips: pinctrl-bcm2711 (gpiochip512, gpiochip0), raspberrypi-exp-gpio (gpiochip570, gpiochip1))');
    assert.equal(number('pi4new', 'gpiochip1', 8), 'line 8: offset 8 is beyond raspberrypi-exp-gpio\'s 8 lines');
    assert.equal(number('pi4new', null, 'BUTTON'), 'sysfs has no line names: write line = <offset> (with chip), or a header name such as "GPIO17"');
    assert.equal(number('other', null, 'GPIO3'), 'no Raspberry Pi header chip (pinctrl-bcm2835, pinctrl-bcm2711, pinctrl-rp1) in <root> (chips: gpio-mockup-A (gpiochip0, gpiochip0)); set chip in [board]');
    assert.equal(resolveSysfsLine('/nonexistent/gpio', null, 'GPIO17').ok, false);
  });
});

describe('sysfs backend', () => {
  const PROFILE = '[board]\nname = "old"\ngpio = "sysfs"\n[signals.b]\ntype = "gpio_in"\nline = "GPIO17"\n[signals.o]\ntype = "gpio_out"\nline = "GPIO27"\n';

  test('a kernel without GPIO sysfs: one clear error for the board', async () => {
    const root = await makeTree({ 'gpiochip0/base': '0\n' });
    try {
      const { board, logger } = recordingBoard(profile(PROFILE), systemClock, { backend: (l, c) => new SysfsBackend(l, c, { root: join(root, 'absent') }) });
      await board.start();
      assert.deepEqual(board.state().map((s) => s.state), ['down', 'down']);
      assert.match(board.state()[0]!.error!, /absent: this kernel has no GPIO sysfs interface; use gpio = "gpiod"/);
      assert.equal(logger.lines.filter((l) => l.startsWith('error')).length, 1);
      assert.equal((await board.write('o', 1)).ok, false);
      await board.stop();
    } finally {
      await removeTree(root);
    }
  });

  test('onoff missing or not built: one clear error for the board', async () => {
    const root = await makeTree(chip(512, 58, 'pinctrl-bcm2711', 'gpiochip0'));
    try {
      const load = () => {
        throw new Error("Cannot find module 'epoll'\nRequire stack: ...");
      };
      const { board, logger } = recordingBoard(profile(PROFILE), systemClock, { backend: (l, c) => new SysfsBackend(l, c, { root, load }) });
      await board.start();
      assert.deepEqual(board.state().map((s) => s.state), ['down', 'down']);
      assert.equal(board.state()[0]!.error, "the onoff package is not installed or its native part (epoll) is not built: Cannot find module 'epoll' (reinstall with python3, make and g++ present)");
      assert.equal(logger.lines.filter((l) => l.startsWith('error')).length, 1);
      await board.stop();
    } finally {
      await removeTree(root);
    }
  });

  test('outputs through onoff on a fake /sys/class/gpio (private mount namespace)', async (t) => {
    const script = `mount -t tmpfs sopgate-test /sys/class && exec "${process.execPath}" --import tsx test/fixtures/sysfs-outputs.ts`;
    const r = await runCommand('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', script], { cwd: REPO, timeoutMs: 30_000 }).catch((err: Error) => ({ code: -1, stderr: err.message, stdout: '', signal: null }));
    if (r.code !== 0 && /unshare|mount|permission|not permitted|ENOENT/i.test(r.stderr) && !/sysfs-outputs/.test(r.stderr)) {
      t.skip(`needs root and mount namespaces: ${r.stderr.trim().split('\n')[0]}`);
      return;
    }
    assert.equal(r.code, 0, r.stderr);
    const steps = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    // GPIO27 and GPIO22 on a chip based at 512; the active-low relay that starts on is driven low.
    assert.deepEqual(steps.started.lamp, { direction: 'low', value: '0' });
    assert.deepEqual(steps.started.relay, { direction: 'low', value: '0' });
    assert.deepEqual(steps.started.states, [['lamp', 'up', 0, null], ['relay', 'up', 1, null]]);
    assert.deepEqual(steps.writes, [{ ok: true }, { ok: true }]);
    assert.deepEqual(steps.written, { lamp: { direction: 'low', value: '1' }, relay: { direction: 'low', value: '1' } });
    assert.equal(steps.unexport, '534', 'stop releases the lines');
  });
});
