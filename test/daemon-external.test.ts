// External steps over MQTT: the step context is retained, so an agent that subscribes late,
// or after a restart of the gateway, still learns which step waits for it.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { buildConfig } from '../src/config/config.js';
import { Gateway } from '../src/gateway/gateway.js';
import { memoryLogger } from './helpers/logger.js';
import { startDaemon, type DaemonHarness } from './helpers/daemon.js';
import { externalStep, sopToml, stepsMd } from './helpers/fixtures.js';
import { WAIT_MS, withTimeout } from './helpers/process.js';
import { removeTree } from './helpers/workspace.js';

const HANDOFF_TOML = sopToml('handoff', 'execution_mode = "auto"\nmax_concurrent = 10');
const HANDOFF_MD = stepsMd(externalStep(1, 'Inspect', 'Look at the pump.'), externalStep(2, 'Report', 'Say what you saw.'));

interface Seen {
  topic: string;
  retain: boolean;
  body: { run: { run_id: string }; step: { step_number: number; title: string } } | null;
}

/** Marks the end of what a subscriber is sent: published by the test, after what it waits for. */
const END = 'test/end';

/**
 * What a client that subscribes now is sent on `filter`: the retained messages. END, retained
 * too, is subscribed to after `filter` in the same SUBSCRIBE, and the broker sends the retained
 * messages of one SUBSCRIBE filter by filter in the packet's order: END's comes last.
 */
async function lateSubscriber(port: number, filter: string): Promise<Seen[]> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
  try {
    await client.publishAsync(END, 'end', { qos: 1, retain: true });
    const seen: Seen[] = [];
    const ended = new Promise<void>((resolve) => {
      client.on('message', (topic, payload, packet) => {
        if (topic === END) return resolve();
        seen.push({ topic, retain: packet.retain, body: payload.length === 0 ? null : JSON.parse(payload.toString('utf8')) });
      });
    });
    await client.subscribeAsync([filter, END]);
    await withTimeout(ended, WAIT_MS, `the retained messages on ${filter}`);
    return seen;
  } finally {
    await client.endAsync();
  }
}

let h: DaemonHarness;
before(async () => {
  h = await startDaemon({ 'sops/handoff/SOP.toml': HANDOFF_TOML, 'sops/handoff/SOP.md': HANDOFF_MD });
});
after(async () => {
  await h.daemon.stop();
  await removeTree(h.root);
});

describe('external steps over MQTT', () => {
  test('the waiting step is retained until its result is in; the next step replaces it', async () => {
    const id = (await h.api('POST', '/api/sops/handoff/execute')).body.run_id as string;
    const port = h.listening.mqtt!.port;
    const first = await lateSubscriber(port, `sopgate/runs/${id}/step`);
    assert.equal(first.length, 1, 'the step context reaches a client that subscribed after it was sent');
    assert.equal(first[0]!.retain, true);
    assert.equal(first[0]!.body?.step.step_number, 1);
    assert.equal(first[0]!.body?.step.title, 'Inspect');

    assert.equal((await h.api('POST', `/api/runs/${id}/advance`, '{"status": "completed", "output": "fine"}')).status, 200);
    const second = await lateSubscriber(port, `sopgate/runs/${id}/step`);
    assert.deepEqual(second.map((m) => m.body?.step.step_number), [2]);

    // Watching while the last result comes in: the retained context goes without a message.
    const watcher = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
    const live: Buffer[] = [];
    try {
      const ended = new Promise<void>((resolve) => {
        watcher.on('message', (topic, payload, packet) => (topic === END ? resolve() : packet.retain || live.push(payload)));
      });
      await watcher.subscribeAsync([`sopgate/runs/${id}/step`, END]);
      assert.equal((await h.api('POST', `/api/runs/${id}/advance`, '{"status": "completed", "output": "reported"}')).status, 200);
      assert.equal((await h.api('GET', `/api/runs/${id}`)).body.status, 'completed');
      assert.deepEqual(await lateSubscriber(port, `sopgate/runs/${id}/step`), [], 'nothing retained once the run has no external step waiting');
      // Whatever the broker sent on the step topic during the advance went out before this, published after its answer.
      await watcher.publishAsync(END, 'end');
      await withTimeout(ended, WAIT_MS, 'the end marker');
    } finally {
      await watcher.endAsync();
    }
    assert.deepEqual(live, [], 'no empty step message reached the subscriber');
  });

  test('a cancelled run leaves no step context behind', async () => {
    const id = (await h.api('POST', '/api/sops/handoff/execute')).body.run_id as string;
    assert.equal((await lateSubscriber(h.listening.mqtt!.port, `sopgate/runs/${id}/step`)).length, 1);
    assert.equal((await h.api('POST', `/api/runs/${id}/cancel`)).status, 200);
    assert.deepEqual(await lateSubscriber(h.listening.mqtt!.port, `sopgate/runs/${id}/step`), []);
  });

  test('after a restart the restored run\'s step context is retained again', async () => {
    const id = (await h.api('POST', '/api/sops/handoff/execute')).body.run_id as string;
    await h.daemon.stop();
    const configFile = join(h.root, 'sopgate.toml');
    const built = buildConfig(await readFile(configFile, 'utf8'), configFile, h.root);
    if (!built.ok) throw new Error(JSON.stringify(built.errors));
    const daemon = new Gateway({ config: built.config, logger: memoryLogger() });
    const listening = await daemon.start();
    h.daemon = daemon;
    const seen = await lateSubscriber(listening.mqtt!.port, 'sopgate/runs/+/step');
    assert.deepEqual(
      seen.map((m) => [m.body?.run.run_id, m.body?.step.step_number]),
      [[id, 1]],
      'only the run still waiting; the finished and cancelled runs have none',
    );
  });
});
