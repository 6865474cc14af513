// Board signals end to end through the daemon, in-process: a sim board driven over
// /api/sim, the runs it starts seen on the MQTT run topics, gpio_write and serial_write
// seen through GET /api/sim, the approval button, the status LED, /api/peripherals, the
// metrics and the CLI. A manual clock moves debounce windows, pulses and blinks.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { ManualClock } from './helpers/clock.js';
import { BLINK_MS } from '../src/sources/gpio/index.js';
import { startDaemon, type DaemonHarness } from './helpers/daemon.js';
import { until } from './helpers/process.js';
import { watched, type Watched } from './helpers/serial.js';
import { cli, removeTree, sopToml } from './helpers/workspace.js';

const PANEL = `[board]
name = "panel"
gpio = "sim"
status_led = "busy_led"

[signals.button]
type = "gpio_in"
line = "GPIO17"
active_low = true
debounce_ms = 20

[signals.approve_button]
type = "gpio_in"
line = "GPIO5"
approve = true

[signals.approve_b]
type = "gpio_in"
line = "GPIO6"
approve = "gated-b"

[signals.lamp]
type = "gpio_out"
line = "GPIO27"

[signals.relay]
type = "gpio_out"
line = "GPIO22"
active_low = true

[signals.busy_led]
type = "gpio_out"
line = "GPIO23"

[signals.uart]
type = "serial"
format = "json"
`;

// A board that is not simulated, on a machine without libgpiod's tools, and a port that is absent.
const PLANT = `[board]
name = "plant"

[signals.door]
type = "gpio_in"
line = "GPIO4"

[signals.siren]
type = "gpio_out"
line = "GPIO18"

[signals.meter]
type = "serial"
path = "/dev/does-not-exist-sopgate"
`;

const peripheral = (signal: string, condition: string) => `[[triggers]]\ntype = "peripheral"\nboard = "panel"\nsignal = "${signal}"\ncondition = "${condition}"\n`;
const block = (tool: string, body: string) => `\n   \`\`\`${tool}\n${body.split('\n').map((l) => `   ${l}`).join('\n')}\n   \`\`\`\n`;
const steps = (...items: string[]) => `# X\n\n## Steps\n\n${items.map((s, i) => `${i + 1}. ${s}`).join('\n')}`;

const FILES = {
  'boards/panel.toml': PANEL,
  'boards/plant.toml': PLANT,
  'sops/lamp/SOP.toml': sopToml('lamp', 'execution_mode = "auto"', peripheral('button', '> 0')),
  'sops/lamp/SOP.md': steps(
    `**Light** — The lamp.${block('gpio_write', 'signal = "panel/lamp"\nvalue = 1')}`,
    `**Click the relay**${block('gpio_write', 'signal = "panel/relay"\nvalue = 1\npulse_ms = 1000')}`,
  ),
  'sops/co2/SOP.toml': sopToml('co2', 'execution_mode = "auto"\nmax_concurrent = 5', peripheral('uart', '$.ppm > 1500')),
  'sops/co2/SOP.md': steps(`**Acknowledge**${block('serial_write', 'signal = "panel/uart"\ndata = "ACK {{payload.ppm}}"')}`),
  'sops/siren/SOP.toml': sopToml('siren', 'execution_mode = "auto"'),
  'sops/siren/SOP.md': steps(`**Sound**${block('gpio_write', 'signal = "plant/siren"\nvalue = 1')}`),
  'sops/meter/SOP.toml': sopToml('meter', 'execution_mode = "auto"'),
  'sops/meter/SOP.md': steps(`**Ask**${block('serial_write', 'signal = "plant/meter"\ndata = "READ"\nexpect = "^kwh="')}`),
  'sops/gated-a/SOP.toml': sopToml('gated-a', 'execution_mode = "supervised"\nmax_concurrent = 5'),
  'sops/gated-a/SOP.md': steps(`**Log**${block('log', 'message = "a approved"')}`),
  'sops/gated-b/SOP.toml': sopToml('gated-b', 'execution_mode = "supervised"\nmax_concurrent = 5'),
  'sops/gated-b/SOP.md': steps(`**Log**${block('log', 'message = "b approved"')}`),
};

interface RunEvent {
  kind: string;
  run: { run_id: string; sop_name: string; status: string; reason: string | null; trigger_event: { topic: string | null; payload: string | null } };
}

let h: DaemonHarness;
let clock: ManualClock;
let client: mqtt.MqttClient;
let events: Watched<RunEvent>;

before(async () => {
  clock = new ManualClock(Date.UTC(2026, 0, 1));
  // The tools' PATH holds nothing: the plant board's lines are down, as on a machine without gpiod.
  h = await startDaemon(FILES, 'boards = ["boards/panel.toml", "boards/plant.toml"]', { clock, hardware: { gpiod: { env: { PATH: '/nonexistent' } } } });
  events = watched<RunEvent>((e) => `${e.kind} ${e.run.sop_name}`);
  client = await mqtt.connectAsync(`mqtt://127.0.0.1:${h.listening.mqtt!.port}`);
  client.on('message', (topic, payload) => events.add({ kind: topic.split('/').pop()!, run: JSON.parse(payload.toString()) }));
  await client.subscribeAsync('sopgate/runs/+/+');
});
after(async () => {
  await client.endAsync();
  await h.daemon.stop();
  if (process.env.SHOWLOGS) console.error(h.logs.join('\n'));
  await removeTree(h.root);
});

/** Sets a sim input's level (or sends serial lines) and expects the API to take it. */
async function drive(signal: string, body: string): Promise<any> {
  const r = await h.api('POST', `/api/sim/panel/${signal}`, body);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

/** A press and a release, each past the debounce window. */
async function press(signal: string): Promise<void> {
  await drive(signal, '1');
  clock.advance(20);
  await drive(signal, '0');
  clock.advance(20);
}

const read = async (signal: string) => (await h.api('GET', `/api/sim/panel/${signal}`)).body;
const writesOf = async (signal: string): Promise<(number | string)[]> => (await read(signal)).writes.map((w: { value: number | string }) => w.value);
const eventsOf = (kind: string, sop: string) => events.items.filter((e) => e.kind === kind && e.run.sop_name === sop);

async function metric(line: string): Promise<number> {
  const text = (await h.api('GET', '/metrics')).body as string;
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? Number.NaN : Number(found.slice(line.length + 1));
}

describe('a sim board in the daemon', () => {
  test('a press starts the SOP of its peripheral trigger; gpio_write and a pulse show in GET /api/sim', async () => {
    await drive('button', '1');
    assert.equal(eventsOf('started', 'lamp').length, 0, 'nothing before the debounce window closes');
    clock.advance(20);
    const started = await events.find((e) => e.kind === 'started' && e.run.sop_name === 'lamp', 'the lamp run');
    assert.deepEqual(started.run.trigger_event.topic, 'panel/button');
    assert.deepEqual(started.run.trigger_event.payload, '1');

    assert.deepEqual(await until(async () => ((await writesOf('lamp')).length > 0 ? writesOf('lamp') : undefined), 'the lamp write'), [1]);
    // The pulse: on at once, and back only once the clock has moved its length.
    assert.deepEqual(await until(async () => ((await writesOf('relay')).length > 0 ? writesOf('relay') : undefined), 'the relay pulse'), [1]);
    assert.equal((await read('relay')).value, 1);
    clock.advance(999);
    assert.deepEqual(await writesOf('relay'), [1]);
    clock.advance(1);
    const done = await events.find((e) => e.kind === 'completed' && e.run.run_id === started.run.run_id, 'the lamp run to complete');
    assert.equal(done.run.status, 'completed');
    assert.deepEqual(await writesOf('relay'), [1, 0], 'active_low is the board\'s business: writes are logical');
    const run = (await h.api('GET', `/api/runs/${started.run.run_id}`)).body;
    assert.deepEqual(
      run.step_results.map((r: { output: string }) => r.output),
      ['wrote 1 to panel/lamp', 'pulsed panel/relay: 1 for 1000 ms, then 0'],
    );

    // The release is an event too, which the condition does not take.
    const before = await metric('sopgate_events_total{source="peripheral"}');
    await drive('button', '0');
    clock.advance(20);
    assert.equal(await metric('sopgate_events_total{source="peripheral"}'), before + 1);
    assert.equal(eventsOf('started', 'lamp').length, 1);
  });

  test('a bouncing press is one event, and a bounce that ends where it began is none', async () => {
    clock.advance(10_000); // past the lamp's runs
    const count = () => metric('sopgate_peripheral_events_total{board="panel",signal="button"}');
    const before = await count();
    for (const level of ['1', '0', '1', '0', '1']) await drive('button', level);
    clock.advance(20);
    assert.equal(await count(), before + 1);
    for (const level of ['0', '1']) await drive('button', level);
    clock.advance(20);
    assert.equal(await count(), before + 1, 'pressed before and after the bounce: no change');
    await drive('button', '0');
    clock.advance(20);
    assert.equal(await count(), before + 2);
  });

  test('the approval button approves the oldest waiting run, of its SOP when named; with none waiting it changes nothing', async () => {
    const ledgerSize = async () => (await h.api('GET', '/api/ledger?limit=1000')).body.length;
    const before = await ledgerSize();
    await press('approve_button');
    assert.equal(await ledgerSize(), before, 'a press with nothing waiting writes nothing');
    assert.ok(h.logs.some((l) => l.includes('panel/approve_button pressed: no run waits for approval')), h.logs.join('\n'));

    const execute = async (sop: string) => {
      const r = await h.api('POST', `/api/sops/${sop}/execute`);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      clock.advance(1000);
      return r.body.run_id as string;
    };
    const b1 = await execute('gated-b');
    const a1 = await execute('gated-a');
    const b2 = await execute('gated-b');

    await press('approve_b');
    // gated-a's run waited longer than b2, but this button approves gated-b's runs only.
    await events.find((e) => e.kind === 'completed' && e.run.run_id === b1, 'b1 completed');
    await press('approve_button');
    await events.find((e) => e.kind === 'completed' && e.run.run_id === a1, 'a1 completed');
    assert.equal((await h.api('GET', `/api/runs/${b2}`)).body.status, 'waiting_approval');
    for (const [id, signal] of [[b1, 'panel/approve_b'], [a1, 'panel/approve_button']] as const) {
      const approved = (await h.api('GET', `/api/ledger?run=${id}`)).body.find((e: { kind: string }) => e.kind === 'approved');
      assert.equal(approved.actor, 'gpio');
      assert.equal(approved.detail, signal);
    }
    await press('approve_button');
    await events.find((e) => e.kind === 'completed' && e.run.run_id === b2, 'b2 completed');
  });

  test('the status LED blinks while a run waits for approval, and is off after', async () => {
    const led = async () => writesOf('busy_led');
    const before = (await led()).length;
    const r = await h.api('POST', '/api/sops/gated-a/execute');
    assert.equal(r.status, 201);
    await until(async () => ((await led()).length > before ? true : undefined), 'the LED to light');
    clock.advance(BLINK_MS);
    await until(async () => ((await led()).length > before + 1 ? true : undefined), 'the LED to go dark');
    clock.advance(BLINK_MS);
    await until(async () => ((await led()).length > before + 2 ? true : undefined), 'the LED to light again');
    assert.deepEqual((await led()).slice(before), [1, 0, 1]);
    assert.equal((await h.api('POST', `/api/runs/${r.body.run_id}/approve`)).status, 200);
    await until(async () => ((await led()).length > before + 3 ? true : undefined), 'the LED to go off');
    clock.advance(BLINK_MS * 4);
    assert.deepEqual((await led()).slice(before), [1, 0, 1, 0], 'no blink once nothing waits');
  });

  test('serial lines of a sim board are events; serial_write answers on the same device', async () => {
    const body = await drive('uart', '{"ppm": 1800}');
    assert.equal(body.value, '{"ppm": 1800}');
    const started = await events.find((e) => e.kind === 'started' && e.run.sop_name === 'co2', 'the co2 run');
    assert.equal(started.run.trigger_event.topic, 'panel/uart');
    await events.find((e) => e.kind === 'completed' && e.run.run_id === started.run.run_id, 'the co2 run to complete');
    assert.deepEqual(await writesOf('uart'), ['ACK 1800']);
    // Two lines in one body, one of them not JSON: one event, one line dropped and counted.
    await drive('uart', '{"ppm": 400}\nnot json\n');
    assert.equal(await metric('sopgate_serial_lines_dropped_total{board="panel",signal="uart",reason="not_json"}'), 1);
    assert.equal(await metric('sopgate_peripheral_events_total{board="panel",signal="uart"}'), 2);
  });

  test('GET /api/peripherals lists every signal with its state; the metrics say which are up', async () => {
    const r = await h.api('GET', '/api/peripherals');
    assert.equal(r.status, 200);
    const byName = new Map(r.body.map((s: { board: string; signal: string }) => [`${s.board}/${s.signal}`, s]));
    assert.deepEqual([...byName.keys()], [
      'panel/button', 'panel/approve_button', 'panel/approve_b', 'panel/lamp', 'panel/relay', 'panel/busy_led', 'panel/uart', 'plant/door', 'plant/siren', 'plant/meter',
    ]);
    for (const s of r.body) assert.deepEqual(Object.keys(s), ['board', 'signal', 'type', 'backend', 'state', 'value', 'last_event_at', 'error']);
    const lastWrite = (await read('lamp')).writes.at(-1).at;
    assert.deepEqual(byName.get('panel/lamp'), { board: 'panel', signal: 'lamp', type: 'gpio_out', backend: 'sim', state: 'up', value: 1, last_event_at: lastWrite, error: null });
    const uart = byName.get('panel/uart') as { backend: string; state: string; last_event_at: string };
    assert.equal(uart.backend, 'sim');
    assert.equal(uart.state, 'up');
    const door = byName.get('plant/door') as { state: string; error: string; backend: string };
    assert.equal(door.backend, 'gpiod');
    assert.equal(door.state, 'down');
    assert.match(door.error, /gpiomon/);
    const meter = byName.get('plant/meter') as { state: string; error: string; backend: string };
    assert.equal(meter.backend, 'serialport');
    assert.equal(meter.state, 'down');
    assert.match(meter.error, /does-not-exist-sopgate|No such file/);
    assert.equal(await metric('sopgate_peripheral_up{board="panel",signal="button"}'), 1);
    assert.equal(await metric('sopgate_peripheral_up{board="plant",signal="door"}'), 0);
    assert.equal(await metric('sopgate_peripheral_up{board="plant",signal="meter"}'), 0);
    assert.equal(await metric('sopgate_serial_lines_dropped_total{board="plant",signal="meter",reason="too_long"}'), 0);
  });

  test('a step on a signal that is down fails at once, saying why', async () => {
    for (const [sop, reason] of [
      ['siren', /^Step 1 failed: \[gpio_write to plant\/siren: the signal is down: gpiomon not found/],
      ['meter', /^Step 1 failed: \[serial_write to plant\/meter: \/dev\/does-not-exist-sopgate is down: /],
    ] as const) {
      const r = await h.api('POST', `/api/sops/${sop}/execute`);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const failed = await events.find((e) => e.kind === 'failed' && e.run.run_id === r.body.run_id, `${sop} to fail`);
      assert.match(failed.run.reason ?? '', reason);
    }
  });

  test('/api/sim answers 404 for boards that are not sim and signals that do not exist, 400 for what a signal cannot take', async () => {
    assert.equal((await h.api('GET', '/api/sim/plant/door')).status, 404);
    assert.equal((await h.api('POST', '/api/sim/plant/door', '1')).status, 404);
    assert.equal((await h.api('GET', '/api/sim/nope/door')).status, 404);
    assert.equal((await h.api('GET', '/api/sim/panel/nope')).status, 404);
    assert.equal((await h.api('POST', '/api/sim/panel/button', '2')).status, 400);
    assert.equal((await h.api('POST', '/api/sim/panel/lamp', '1')).status, 400);
    assert.equal((await h.api('POST', '/api/sim/panel/uart', '')).status, 400);
    const noToken = await fetch(`http://127.0.0.1:${h.listening.http.port}/api/sim/panel/button`, { method: 'POST', body: '1' });
    assert.equal(noToken.status, 401);
  });

  test('sopgate sim drives and reads a signal; sopgate status names the signals that are down', async () => {
    const lit = await cli(h.root, 'sim', 'panel/lamp', '--config', h.cliConfig);
    assert.equal(lit.code, 0, lit.stderr);
    assert.match(lit.stdout, /^panel\/lamp \(gpio_out\): 1\n/);
    assert.match(lit.stdout, /wrote 1 at 2026-01-01T00:00:00\.020Z/);
    const pressed = await cli(h.root, 'sim', 'panel/button', '1', '--config', h.cliConfig);
    assert.equal(pressed.code, 0, pressed.stderr);
    assert.match(pressed.stdout, /^panel\/button \(gpio_in\): 1$/m);
    const json = await cli(h.root, 'sim', 'panel/uart', '--json', '--config', h.cliConfig);
    assert.deepEqual(JSON.parse(json.stdout).writes.map((w: { value: string }) => w.value), ['ACK 1800']);
    const missing = await cli(h.root, 'sim', 'plant/door', '1', '--config', h.cliConfig);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /not a sim board/);
    assert.equal((await cli(h.root, 'sim', '--config', h.cliConfig)).code, 2);
    assert.equal((await cli(h.root, 'sim', 'lamp', '--config', h.cliConfig)).code, 2);

    const status = await cli(h.root, 'status', '--config', h.cliConfig);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^signals: 10, 7 up, 3 down$/m);
    assert.match(status.stdout, /^ {2}down: plant\/door \(gpio_in\): .*gpiomon/m);
    assert.match(status.stdout, /^ {2}down: plant\/meter \(serial\): /m);
  });
});
