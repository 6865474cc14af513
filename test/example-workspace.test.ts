// The example workspace runs the simulated panel of boards/sim.toml: its config finds the
// profile, and the tour's lamp test and CO2 alert work with the simulated button, lamp,
// relay and serial sensor.
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { loadConfig } from '../src/config/config.js';
import { ManualClock } from './helpers/clock.js';
import { startDaemon, type DaemonHarness } from './helpers/daemon.js';
import { REPO, until } from './helpers/process.js';
import { watched, type Watched } from './helpers/serial.js';
import { removeTree } from './helpers/workspace.js';

const EXAMPLE = join(REPO, 'examples/workspace');
const SIM = join(REPO, 'boards/sim.toml');

interface RunEvent {
  kind: string;
  run: { run_id: string; sop_name: string; current_step: number };
}

let h: DaemonHarness;
let clock: ManualClock;
let client: mqtt.MqttClient;
let events: Watched<RunEvent>;

before(async () => {
  const files: Record<string, string> = {};
  for (const sop of await readdir(join(EXAMPLE, 'sops'))) {
    for (const file of await readdir(join(EXAMPLE, 'sops', sop))) files[`sops/${sop}/${file}`] = await readFile(join(EXAMPLE, 'sops', sop, file), 'utf8');
  }
  clock = new ManualClock();
  h = await startDaemon(files, `boards = [${JSON.stringify(SIM)}]`, { clock });
  events = watched<RunEvent>((e) => `${e.kind} ${e.run.sop_name}`);
  client = await mqtt.connectAsync(`mqtt://127.0.0.1:${h.listening.mqtt!.port}`);
  client.on('message', (topic, payload) => events.add({ kind: topic.split('/').pop()!, run: JSON.parse(payload.toString()) }));
  await client.subscribeAsync('sopgate/runs/+/+');
});
after(async () => {
  await client.endAsync();
  await h.daemon.stop();
  if (process.env.SHOWLOGS) console.error(h.logs.filter((l) => !l.includes('[http]')).join('\n'));
  await removeTree(h.root);
});

async function sim(signal: string, body: string): Promise<void> {
  const r = await h.api('POST', `/api/sim/sim/${signal}`, body);
  assert.equal(r.status, 200, JSON.stringify(r.body));
}

/** Presses and releases a button, each past the debounce window. */
async function press(signal: string): Promise<void> {
  await sim(signal, '1');
  clock.advance(20);
  await sim(signal, '0');
  clock.advance(20);
}

const writes = async (signal: string) => (await h.api('GET', `/api/sim/sim/${signal}`)).body.writes.map((w: { value: number }) => w.value);

describe('the example workspace', () => {
  test('its config lists boards/sim.toml, relative to the config file', async () => {
    const r = await loadConfig(join(EXAMPLE, 'sopgate.toml'), '/');
    assert.ok(r.ok);
    assert.deepEqual(r.config.boards, [SIM]);
  });

  test('the test button starts lamp-button, which pulses the lamp and waits for the approval button', async () => {
    await press('test_button');
    const started = await events.find((e) => e.kind === 'started' && e.run.sop_name === 'lamp-button', 'lamp-button to start');
    const id = started.run.run_id;
    // The pulse's second write needs the clock to move: until then the run is at step 2.
    await until(async () => ((await writes('lamp')).length === 1 ? true : undefined), 'the lamp to light');
    clock.advance(1000);
    const waiting = await events.find((e) => e.kind === 'waiting_approval' && e.run.run_id === id, 'lamp-button to wait at step 3');
    assert.equal(waiting.run.current_step, 3);
    assert.deepEqual(await writes('lamp'), [1, 0]);
    await press('approve_button');
    await events.find((e) => e.kind === 'completed' && e.run.run_id === id, 'lamp-button to complete');
    const approved = (await h.api('GET', `/api/ledger?run=${id}`)).body.find((e: { kind: string }) => e.kind === 'approved');
    assert.deepEqual([approved.actor, approved.detail], ['gpio', 'sim/approve_button']);
  });

  test('a high CO2 line from the serial sensor starts co2-sensor; the approval button lets it open the vents', async () => {
    await sim('co2_uart', '{"ppm": 1620, "temp_c": 24.5}');
    const started = await events.find((e) => e.kind === 'started' && e.run.sop_name === 'co2-sensor', 'co2-sensor to start');
    const id = started.run.run_id;
    await events.find((e) => e.kind === 'waiting_approval' && e.run.run_id === id && e.run.current_step === 1, 'co2-sensor to wait at step 1');
    await press('approve_button');
    await events.find((e) => e.kind === 'waiting_approval' && e.run.run_id === id && e.run.current_step === 2, 'co2-sensor to wait at step 2');
    assert.deepEqual(await writes('relay'), [1]);
    assert.equal((await h.api('POST', `/api/runs/${id}/cancel`)).status, 200);
  });
});
