// The board profiles sopgate.toml lists, seen by `sopgate validate` (each finding with its
// file and line, the SOPs checked against the profiles) and by the daemon (a board whose
// profile has errors is listed but not started; the rest runs; a SOP whose gpio_write names
// a wrong signal is left out).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startDaemon, type DaemonHarness } from './helpers/daemon.js';
import { cli, makeTree, removeTree, sopToml } from './helpers/workspace.js';

const PANEL = `[board]
name = "panel"
gpio = "sim"

[signals.button]
type = "gpio_in"
line = "GPIO17"

[signals.lamp]
type = "gpio_out"
line = "GPIO27"

[signals.uart]
type = "serial"
format = "kv"
keys = ["temp"]
`;

const BAD = `[board]
name = "bad"
gpio = "gpiod"
colour = "red"

[signals.door]
type = "gpio_in"
line = "GPIO4"

[signals.relay]
type = "gpio_out"
line = 17
initial = 2
`;

const trigger = (board: string, signal: string) => `[[triggers]]\ntype = "peripheral"\nboard = "${board}"\nsignal = "${signal}"\n`;
const gpioWrite = (signal: string) => `# X\n\n## Steps\n\n1. **Write**\n\n   \`\`\`gpio_write\n   signal = "${signal}"\n   value = 1\n   \`\`\`\n`;

const FILES = {
  'boards/panel.toml': PANEL,
  'boards/bad.toml': BAD,
  'sops/ok/SOP.toml': sopToml('ok', 'execution_mode = "auto"', trigger('panel', 'button')),
  'sops/ok/SOP.md': gpioWrite('panel/lamp'),
  'sops/kv/SOP.toml': sopToml('kv', '', trigger('panel', 'temp')),
  'sops/kv/SOP.md': gpioWrite('panel/lamp'),
  'sops/elsewhere/SOP.toml': sopToml('elsewhere', '', trigger('panel', 'nope')),
  'sops/elsewhere/SOP.md': gpioWrite('panel/lamp'),
  'sops/wrong/SOP.toml': sopToml('wrong'),
  'sops/wrong/SOP.md': gpioWrite('panel/button'),
};
const BOARDS = 'boards = ["boards/panel.toml", "boards/bad.toml", "boards/missing.toml"]';

describe('sopgate validate with board profiles', () => {
  let root: string;
  before(async () => {
    root = await makeTree({ ...FILES, 'sopgate.toml': `${BOARDS}\n` });
  });
  after(() => removeTree(root));

  test('profile findings come with their file and line; SOPs are checked against the profiles', async () => {
    const r = await cli(root, 'validate');
    assert.equal(r.code, 1);
    const lines = r.stdout.trim().split('\n');
    assert.deepEqual(lines, [
      'boards/bad.toml:13: error: [signals.relay] initial must be 0 or 1, got 2',
      'boards/bad.toml:12: error: [signals.relay] line 17 is an offset, which needs chip in [board]; or name the line ("GPIO17")',
      'boards/missing.toml: error: cannot read board profile: no such file',
      'boards/bad.toml:4: warning: [board] unknown key "colour"',
      'sops/elsewhere/SOP.toml: warning: trigger 1 (peripheral): board "panel" has no signal or key=value key "nope" (names: button, lamp, uart, temp)',
      'sops/wrong/SOP.md: error: step 1: gpio_write: "panel/button" is a gpio_in signal, not a gpio_out',
      '4 SOPs checked in sops: 2 clean, 1 with errors, 1 with warnings',
    ]);
  });

  test('--json has the profile findings under "boards"', async () => {
    const r = await cli(root, 'validate', '--json');
    const out = JSON.parse(r.stdout);
    assert.equal(out.ok, false);
    assert.deepEqual(out.boards.files, [`${root}/boards/panel.toml`, `${root}/boards/bad.toml`, `${root}/boards/missing.toml`]);
    assert.deepEqual(
      out.boards.errors.map((f: { file: string; line: number | null }) => [f.file.slice(root.length + 1), f.line]),
      [['boards/bad.toml', 13], ['boards/bad.toml', 12], ['boards/missing.toml', null]],
    );
    assert.deepEqual(out.boards.warnings.map((f: { line: number }) => f.line), [4]);
    const wrong = out.sops.find((s: { name: string }) => s.name === 'wrong');
    assert.equal(wrong.errors.length, 1);
  });

  test('a clean workspace with profiles validates clean', async () => {
    const clean = await makeTree({
      'sopgate.toml': 'boards = ["boards/panel.toml"]\n',
      'boards/panel.toml': PANEL,
      'sops/ok/SOP.toml': FILES['sops/ok/SOP.toml'],
      'sops/ok/SOP.md': FILES['sops/ok/SOP.md'],
    });
    try {
      const r = await cli(clean, 'validate');
      assert.equal(r.code, 0, r.stdout);
    } finally {
      await removeTree(clean);
    }
  });
});

describe('the daemon with a broken profile beside a good one', () => {
  let h: DaemonHarness;
  before(async () => {
    h = await startDaemon(FILES, BOARDS);
  });
  after(async () => {
    await h.daemon.stop();
    await removeTree(h.root);
  });

  test('the good board runs; the broken one is listed, down and not started; its findings are logged', async () => {
    const signals = (await h.api('GET', '/api/peripherals')).body as { board: string; signal: string; state: string; error: string | null }[];
    assert.deepEqual(signals.map((s) => [`${s.board}/${s.signal}`, s.state]), [
      ['panel/button', 'up'],
      ['panel/lamp', 'up'],
      ['panel/uart', 'up'],
      ['bad/door', 'down'],
    ]);
    assert.match(signals[3]!.error!, /^not started: its profile has errors/);
    assert.ok(h.logs.some((l) => /^error \[boards\] .*boards\/bad\.toml:13: \[signals\.relay\] initial must be 0 or 1, got 2$/.test(l)), h.logs.join('\n'));
    assert.ok(h.logs.some((l) => /^error \[boards\] board bad \(.*boards\/bad\.toml\) not started/.test(l)), h.logs.join('\n'));
  });

  test('a SOP whose gpio_write names an input is left out; one whose trigger names an unknown signal runs', async () => {
    const sops = (await h.api('GET', '/api/sops')).body.map((s: { name: string }) => s.name);
    assert.deepEqual(sops, ['elsewhere', 'kv', 'ok']);
    assert.ok(h.logs.some((l) => l.includes('SOP wrong left out') && l.includes('"panel/button" is a gpio_in signal, not a gpio_out')), h.logs.join('\n'));
  });
});
