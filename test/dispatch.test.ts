// One event path: whatever the source (MQTT, cron, a webhook, a manual execute), the event
// is counted in sopgate_events_total{source}, matched (sopgate_matches_total) and started
// by the one dispatcher, and the HTTP answers stay as they were.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { buildConfig } from '../src/config/config.js';
import { Gateway, type Listening } from '../src/gateway/gateway.js';
import { ManualClock } from './helpers/clock.js';
import { memoryLogger } from './helpers/logger.js';
import { logSteps, sopToml, trigger } from './helpers/fixtures.js';
import { requestJson, TOKEN } from './helpers/http.js';
import { daemonConfig, until } from './helpers/process.js';
import { makeTree, removeTree } from './helpers/workspace.js';

const LOG_MD = logSteps('seen');
const sop = (name: string, lines: string) => sopToml(name, 'execution_mode = "auto"\nmax_concurrent = 10', trigger(lines));

let root: string;
let daemon: Gateway;
let listening: Listening;
const clock = new ManualClock(Date.UTC(2026, 0, 1, 12, 0, 30));
const api = (method: string, path: string, body?: string) => requestJson(`http://127.0.0.1:${listening.http.port}`, TOKEN, method, path, body);

before(async () => {
  const configText = daemonConfig('', 'rate_limit_per_minute = 0');
  root = await makeTree({
    'sopgate.toml': configText,
    'sops/on-mqtt/SOP.toml': sop('on-mqtt', 'type = "mqtt"\ntopic = "plant/+/temp"\ncondition = "> 80"'),
    'sops/on-mqtt/SOP.md': LOG_MD,
    'sops/on-hook/SOP.toml': sop('on-hook', 'type = "webhook"\npath = "/sop/hook"'),
    'sops/on-hook/SOP.md': LOG_MD,
    'sops/by-hand/SOP.toml': sop('by-hand', 'type = "manual"'),
    'sops/by-hand/SOP.md': LOG_MD,
    'sops/every-minute/SOP.toml': sop('every-minute', 'type = "cron"\nexpression = "* * * * *"'),
    'sops/every-minute/SOP.md': LOG_MD,
  });
  const built = buildConfig(configText, join(root, 'sopgate.toml'), root);
  assert.ok(built.ok);
  daemon = new Gateway({ config: built.config, logger: memoryLogger(), clock });
  listening = await daemon.start();
});
after(async () => {
  await daemon.stop();
  await removeTree(root);
});

/** The value of one sample in /metrics, 0 when absent. */
async function metric(sample: string): Promise<number> {
  const text = (await api('GET', '/metrics')).body as string;
  const escaped = sample.replace(/[{}"]/g, (c) => `\\${c}`);
  const found = new RegExp(`^${escaped} (\\S+)$`, 'm').exec(text);
  return found === null ? 0 : Number(found[1]);
}

/** What one source's event added to the counters, once `started` runs more have started. */
async function counted(source: string, act: () => Promise<void>, started: number): Promise<{ events: number; matches: number }> {
  const before = { events: await metric(`sopgate_events_total{source="${source}"}`), matches: await metric('sopgate_matches_total') };
  const runs = await metric('sopgate_runs_started_total');
  await act();
  await until(async () => ((await metric('sopgate_runs_started_total')) >= runs + started ? true : undefined), `${started} run(s) from ${source}`);
  return {
    events: (await metric(`sopgate_events_total{source="${source}"}`)) - before.events,
    matches: (await metric('sopgate_matches_total')) - before.matches,
  };
}

describe('every source goes through the one dispatcher', () => {
  test('mqtt: a matching message and one whose condition fails are two events and one match', async () => {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${listening.mqtt!.port}`);
    try {
      const got = await counted(
        'mqtt',
        async () => {
          await client.publishAsync('plant/a/temp', '70', { qos: 1 });
          await client.publishAsync('plant/a/temp', '90', { qos: 1 });
        },
        1,
      );
      assert.deepEqual(got, { events: 2, matches: 1 });
    } finally {
      await client.endAsync();
    }
  });

  test('webhook: 202 with the runs, and the event and its match counted', async () => {
    let reply: Awaited<ReturnType<typeof api>> | undefined;
    const got = await counted('webhook', async () => {
      reply = await api('POST', '/sop/hook', 'hello');
    }, 1);
    assert.equal(reply?.status, 202);
    assert.deepEqual(reply?.body.matched_sops, ['on-hook']);
    assert.equal(reply?.body.runs.length, 1);
    assert.deepEqual(got, { events: 1, matches: 1 });
  });

  test('webhook: a path no SOP listens on is an event without a match, and still 404', async () => {
    const before = await metric('sopgate_events_total{source="webhook"}');
    const reply = await api('POST', '/sop/nobody', 'x');
    assert.equal(reply.status, 404);
    assert.equal(reply.body.error, 'no_match');
    assert.equal(await metric('sopgate_events_total{source="webhook"}'), before + 1);
  });

  test('manual: an execute is an event of source manual, answered 201', async () => {
    let reply: Awaited<ReturnType<typeof api>> | undefined;
    const got = await counted('manual', async () => {
      reply = await api('POST', '/api/sops/by-hand/execute', 'by hand');
    }, 1);
    assert.equal(reply?.status, 201);
    assert.equal(reply?.body.trigger_event.source, 'manual');
    assert.equal(reply?.body.trigger_event.topic, 'by-hand');
    assert.deepEqual(got, { events: 1, matches: 1 });
    // Refused before any event: an unknown SOP, or one without a manual trigger.
    assert.equal((await api('POST', '/api/sops/nope/execute')).status, 404);
    assert.equal((await api('POST', '/api/sops/on-hook/execute')).status, 422);
    assert.equal(await metric('sopgate_events_total{source="manual"}'), 1);
  });

  test('GET /api/status lists the cron schedules with their next fire', async () => {
    const status = await api('GET', '/api/status');
    assert.equal(status.status, 200);
    assert.deepEqual(status.body.cron, [{ expression: '* * * * *', next: new Date(Math.ceil((clock.now() + 1) / 60_000) * 60_000).toISOString(), sops: ['every-minute'] }]);
  });

  test('cron: a schedule that fires is an event and a match', async () => {
    const got = await counted('cron', async () => clock.advance(60_000), 1);
    assert.deepEqual(got, { events: 1, matches: 1 });
  });
});

