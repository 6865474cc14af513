// A broker that is away, against a real mosquitto: runs go on, and every run event they
// make arrives once it is back; stopped in the middle of a burst, none the broker had
// acknowledged arrives twice.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import mqtt from 'mqtt';
import { noMosquitto } from './helpers/mosquitto.js';
import { until } from './helpers/process.js';
import { centre, cleanup, execute, gateway, LOG_MD, metric, mosquitto, ROOT, runEvents, TICK } from './helpers/upstream.js';
import { sopToml } from './helpers/workspace.js';

describe('a broker that is away', { skip: noMosquitto() }, () => {
  test('a broker that is away: runs go on, and every event arrives once it is back, none twice', async () => {
    const broker = await mosquitto();
    const c = await centre(broker);
    const h = await gateway(broker, TICK);
    await c.waitFor((m) => m.find((x) => x.topic === `${ROOT}status`), 'the birth message');
    const before = [await execute(h, 'tick'), await execute(h, 'tick')];
    await c.waitFor((m) => (runEvents(m).length === 4 ? true : undefined), 'the events made before the broker went away');
    await until(async () => ((await metric(h, 'sopgate_upstream_outbox_messages')) === 0 ? true : undefined), 'every event acknowledged');

    await broker.stop();
    await until(async () => ((await metric(h, 'sopgate_upstream_connected')) === 0 ? true : undefined), 'the gateway to see the broker gone');
    const during: string[] = [];
    for (let i = 0; i < 5; i++) during.push(await execute(h, 'tick'));
    await until(async () => {
      const runs = (await h.api('GET', '/api/runs?sop=tick')).body as { status: string }[];
      return runs.filter((r) => r.status === 'completed').length === 7 ? true : undefined;
    }, 'the runs to complete while the broker is away');
    assert.equal(await metric(h, 'sopgate_upstream_outbox_messages'), 10);

    await broker.start();
    const all = await c.waitFor((m) => (runEvents(m).length >= 14 ? runEvents(m) : undefined), 'every event after the broker came back');
    const expected = [...before, ...during].flatMap((id) => [`${id} started`, `${id} completed`]);
    assert.deepEqual(all, expected, 'each once, in order');
    await until(async () => ((await metric(h, 'sopgate_upstream_outbox_messages')) === 0 ? true : undefined), 'an empty outbox');
    assert.equal(await metric(h, 'sopgate_upstream_sent_total'), 14);
    assert.ok(h.logs.some((l) => l.startsWith(`warn [upstream] connection to mqtt://127.0.0.1:${broker.port} lost`)));
    // The retained status: online again after the broker restarted.
    const statuses = c.messages.filter((m) => m.topic === `${ROOT}status`).map((m) => JSON.parse(m.payload).state);
    assert.equal(statuses.at(-1), 'online');
    assert.deepEqual(runEvents(c.messages).length, 14, 'nothing more came');
  });

  test('mosquitto stopped in the middle of a burst: every event arrives, none the broker had acknowledged twice', async (t) => {
    const broker = await mosquitto();
    const c = await centre(broker);
    const hot = {
      'sops/hot/SOP.toml': sopToml('hot', 'execution_mode = "auto"\nmax_concurrent = 1000', '[[triggers]]\ntype = "mqtt"\ntopic = "sensors/+"\n'),
      'sops/hot/SOP.md': LOG_MD,
    };
    const h = await gateway(broker, hot);
    await until(async () => ((await metric(h, 'sopgate_upstream_connected')) === 1 ? true : undefined), 'connected');
    const sensor = await mqtt.connectAsync(`mqtt://127.0.0.1:${h.listening.mqtt!.port}`);
    cleanup(() => sensor.endAsync());
    const RUNS = 400;
    for (let i = 0; i < RUNS; i++) sensor.publish('sensors/a', String(i));
    await c.waitFor((m) => (runEvents(m).length >= 40 ? true : undefined), 'the first events of the burst');
    await broker.stop();
    await until(async () => ((await metric(h, 'sopgate_upstream_connected')) === 0 ? true : undefined), 'the gateway to see the broker gone');
    // The connection is gone: no acknowledgement can come for it any more.
    const acknowledged = await metric(h, 'sopgate_upstream_sent_total');
    await until(async () => ((await metric(h, 'sopgate_runs_finished_total')) === RUNS ? true : undefined), 'every run finished');
    await broker.start();
    const all = await c.waitFor((m) => (new Set(runEvents(m)).size >= 2 * RUNS ? runEvents(m) : undefined), 'every event', 20_000);

    // Events arrive first in the outbox's order, and the broker acknowledged the first ones.
    const firsts = [...new Set(all)];
    assert.equal(firsts.length, 2 * RUNS);
    const runIds = [...new Set(firsts.map((e) => e.split(' ')[0]!))];
    assert.equal(runIds.length, RUNS);
    for (const id of runIds) assert.ok(firsts.indexOf(`${id} started`) < firsts.indexOf(`${id} completed`), `${id} in order`);
    const acked = new Set(firsts.slice(0, acknowledged));
    // What the gateway sent twice (runEvents leaves out the broker's own redeliveries to the centre).
    const twice = all.filter((e, i) => all.indexOf(e) !== i);
    assert.deepEqual(twice.filter((e) => acked.has(e)), [], 'an event the broker acknowledged is never sent again');
    await until(async () => ((await metric(h, 'sopgate_upstream_outbox_messages')) === 0 ? true : undefined), 'an empty outbox');
    t.diagnostic(`${acknowledged} of ${2 * RUNS} events acknowledged before mosquitto stopped; ${twice.length} sent twice (in flight then), ${c.messages.filter((m) => m.dup).length} redelivered by the broker`);
  });
});
