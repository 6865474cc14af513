// A serial signal end to end through the daemon, in-process, on a real pseudo-terminal
// (socat): a line from the device starts a run, and the run's serial_write talks back.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { startDaemon, type DaemonHarness } from './helpers/daemon.js';
import { ptyDevice, type PtyDevice } from './helpers/pty.js';
import { watched, type Watched } from './helpers/serial.js';
import { removeTree, sopToml, tempDir } from './helpers/workspace.js';

interface RunEvent {
  kind: string;
  run: { run_id: string; sop_name: string; status: string; trigger_event: { topic: string; payload: string } };
}

let dir: string;
let device: PtyDevice;
let h: DaemonHarness;
let client: mqtt.MqttClient;
let events: Watched<RunEvent>;

before(async () => {
  dir = await tempDir('sopgate-serial-daemon-');
  device = await ptyDevice(join(dir, 'tty'));
  const profile = `[board]\nname = "lab"\n\n[signals.uart]\ntype = "serial"\npath = "${device.path}"\nbaud = 115200\nformat = "kv"\n`;
  const trigger = '[[triggers]]\ntype = "peripheral"\nboard = "lab"\nsignal = "temp"\ncondition = "> 30"\n';
  const md = '# Fan\n\n## Steps\n\n1. **Fan on**\n\n   ```serial_write\n   signal = "lab/uart"\n   data = "FAN ON {{payload}}"\n   expect = "^ok"\n   ```\n';
  h = await startDaemon(
    { 'boards/lab.toml': profile, 'sops/fan/SOP.toml': sopToml('fan', 'execution_mode = "auto"', trigger), 'sops/fan/SOP.md': md },
    'boards = ["boards/lab.toml"]',
  );
  events = watched<RunEvent>((e) => `${e.kind} ${e.run.sop_name}`);
  client = await mqtt.connectAsync(`mqtt://127.0.0.1:${h.listening.mqtt!.port}`);
  client.on('message', (topic, payload) => events.add({ kind: topic.split('/').pop()!, run: JSON.parse(payload.toString()) }));
  await client.subscribeAsync('sopgate/runs/+/+');
});
after(async () => {
  await client?.endAsync();
  await h?.daemon.stop();
  await device?.unplug();
  await removeTree(dir);
  if (h !== undefined) await removeTree(h.root);
});

describe('a serial signal in the daemon', () => {
  test('a line from the device starts a run, whose serial_write gets its answer from the device', async () => {
    const peripherals = (await h.api('GET', '/api/peripherals')).body;
    assert.deepEqual(peripherals, [
      { board: 'lab', signal: 'uart', type: 'serial', backend: 'serialport', state: 'up', value: null, last_event_at: null, error: null },
    ]);
    await device.send('temp=24.0\r\ntemp=31.5\r\n');
    const started = await events.find((e) => e.kind === 'started', 'a run to start');
    assert.equal(started.run.trigger_event.topic, 'lab/temp');
    assert.equal(started.run.trigger_event.payload, '31.5');
    await device.waitForReceived(/FAN ON 31\.5\n/);
    await device.send('ok fan on\n');
    const done = await events.find((e) => e.kind === 'completed' && e.run.run_id === started.run.run_id, 'the run to complete');
    assert.equal(done.run.status, 'completed');
    const run = (await h.api('GET', `/api/runs/${started.run.run_id}`)).body;
    assert.equal(run.step_results[0].output, 'ok fan on');
    assert.equal(events.items.filter((e) => e.kind === 'started').length, 1, '24.0 is below the condition');
    const metrics = (await h.api('GET', '/metrics')).body as string;
    assert.match(metrics, /^sopgate_peripheral_up\{board="lab",signal="uart"\} 1$/m);
    // The two temperatures made events; the answer, not a key=value line, was dropped (and still matched expect).
    assert.match(metrics, /^sopgate_peripheral_events_total\{board="lab",signal="uart"\} 2$/m);
    assert.match(metrics, /^sopgate_serial_lines_dropped_total\{board="lab",signal="uart",reason="not_kv"\} 1$/m);
  });
});
