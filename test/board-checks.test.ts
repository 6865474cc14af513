// SOPs checked against the board profiles in use: peripheral triggers naming what no
// profile defines are warnings; gpio_write / serial_write steps naming anything but an
// output of their kind are errors.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { checkSopHardware, findSignal } from '../src/config/board-checks.js';
import { loadBoardProfiles, parseBoardProfile } from '../src/config/board-profile.js';
import { loadSops } from '../src/sop/load.js';
import { REPO } from './helpers/process.js';
import { makeTree, removeTree, sopToml } from './helpers/workspace.js';

const OPTIONS = { defaultExecutionMode: 'supervised' as const, timezone: 'UTC' };
const boards = async () => (await loadBoardProfiles(['boards/rpi4.toml', 'boards/nucleo-serial.toml'], REPO)).boards;
const trigger = (board: string, signal: string) => `[[triggers]]\ntype = "peripheral"\nboard = "${board}"\nsignal = "${signal}"\n`;
const block = (tool: string, args: string) => `\n   \`\`\`${tool}\n   ${args}\n   \`\`\`\n`;

let dir: string;
after(() => removeTree(dir));

describe('checkSopHardware', () => {
  test('peripheral triggers: unknown boards, signals and keys are warnings', async () => {
    const triggers = [
      trigger('panel', 'button'),
      trigger('panel', 'nope'),
      trigger('ghost', 'x'),
      trigger('panel', 'lamp'),
      trigger('nucleo', 'co2'),
      trigger('nucleo', 'humidity'),
      trigger('nucleo', 'sensors'),
      trigger('panel', 'uart'),
    ].join('\n');
    dir = await makeTree({ 'sops/t/SOP.toml': sopToml('t', '', triggers), 'sops/t/SOP.md': '# T\n\n## Steps\n\n1. **Look** — Look.\n' });
    const [loaded] = await loadSops(join(dir, 'sops'), OPTIONS);
    const r = checkSopHardware(await boards(), loaded!.sop);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.warnings.map((w) => w.message), [
      'trigger 2 (peripheral): board "panel" has no signal "nope" (names: button, lamp, relay, uart)',
      'trigger 3 (peripheral): no board profile defines board "ghost" (boards: panel, nucleo)',
      'trigger 4 (peripheral): "panel/lamp" is a gpio_out: outputs make no events',
      'trigger 6 (peripheral): board "nucleo" has no signal or key=value key "humidity" (names: sensors, co2, temp)',
      'trigger 7 (peripheral): "nucleo/sensors" reads key=value lines, whose events are "nucleo/<key>": trigger on one of its keys (co2, temp)',
    ]);
    assert.ok(r.warnings.every((w) => w.file === join(dir, 'sops/t/SOP.toml')));
  });

  test('a kv signal without declared keys could report any key: no warning', async () => {
    const source = await readFile(join(REPO, 'boards/nucleo-serial.toml'), 'utf8');
    const declared = parseBoardProfile(source, 'nucleo.toml').profile!;
    const undeclared = parseBoardProfile(source.replace(/^keys = .*$/m, ''), 'nucleo.toml').profile!;
    const [loaded] = await loadSops(join(dir, 'sops'), OPTIONS);
    const sop = { ...loaded!.sop, triggers: [{ type: 'peripheral' as const, board: 'nucleo', signal: 'humidity' }] };
    assert.equal(checkSopHardware([declared], sop).warnings.length, 1);
    assert.deepEqual(checkSopHardware([undeclared], sop).warnings, []);
  });

  test('gpio_write and serial_write steps must name an output of their kind as "<board>/<signal>"', async () => {
    const steps = [
      ['gpio_write', 'signal = "panel/lamp"\n   value = 1'],
      ['gpio_write', 'signal = "panel/button"\n   value = 1'],
      ['gpio_write', 'signal = "lamp"\n   value = 1'],
      ['gpio_write', 'signal = "ghost/lamp"\n   value = 0'],
      ['gpio_write', 'signal = "panel/siren"\n   value = 0'],
      ['serial_write', 'signal = "nucleo/sensors"\n   data = "read"'],
      ['serial_write', 'signal = "panel/relay"\n   data = "x"'],
    ].map(([tool, args], i) => `${i + 1}. **Step** — Do it.\n${block(tool!, args!)}`);
    const tree = await makeTree({ 'sops/w/SOP.toml': sopToml('w'), 'sops/w/SOP.md': `# W\n\n## Steps\n\n${steps.join('\n')}` });
    try {
      const [loaded] = await loadSops(join(tree, 'sops'), OPTIONS);
      assert.equal(loaded!.sop.steps.filter((s) => s.action !== null).length, 7, 'every block parsed');
      const r = checkSopHardware(await boards(), loaded!.sop);
      assert.deepEqual(r.warnings, []);
      assert.deepEqual(r.errors.map((e) => e.message), [
        'step 2: gpio_write: "panel/button" is a gpio_in signal, not a gpio_out',
        'step 3: gpio_write: signal "lamp" must be written "<board>/<signal>" (did you mean "panel/lamp"?)',
        'step 4: gpio_write: no board profile defines board "ghost" (boards: panel, nucleo)',
        'step 5: gpio_write: board "panel" has no signal "siren" (signals: button, lamp, relay, uart)',
        'step 7: serial_write: "panel/relay" is a gpio_out signal, not a serial',
      ]);
      assert.ok(r.errors.every((e) => e.file === join(tree, 'sops/w/SOP.md')));
    } finally {
      await removeTree(tree);
    }
  });

  test('the example workspace against the sim board: nothing to report', async () => {
    const sops = await loadSops(join(REPO, 'examples/workspace/sops'), OPTIONS);
    const sim = await loadBoardProfiles(['boards/sim.toml'], REPO);
    const peripheral = sops.filter((s) => s.sop.triggers.some((t) => t.type === 'peripheral'));
    assert.ok(peripheral.length >= 2, 'the example has peripheral triggers to check');
    assert.deepEqual(sops.map((s) => checkSopHardware(sim.boards, s.sop)), sops.map(() => ({ errors: [], warnings: [] })));
    // Without the profile, the same SOPs warn.
    assert.ok(peripheral.map((s) => checkSopHardware([], s.sop)).every((f) => f.warnings.length > 0));
  });
});

describe('findSignal', () => {
  test('resolves "<board>/<signal>"', async () => {
    const found = findSignal(await boards(), 'panel/relay');
    assert.ok(found.ok);
    assert.equal(found.signal.type, 'gpio_out');
    assert.equal(found.board.name, 'panel');
  });
});
