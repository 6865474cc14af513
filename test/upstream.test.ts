// The upstream connection against a real mosquitto on a free loopback port: run events
// arrive at the centre in order, commands from the centre work with the same rules as local
// ones, a broker that is away loses nothing, commands sent while the gateway was away
// arrive, and attach mode (no embedded broker) starts runs from mosquitto's sensors.
import assert from 'node:assert/strict';
import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import mqtt from 'mqtt';
import type { DaemonHarness } from './helpers/daemon.js';
import { Centre, noMosquitto } from './helpers/mosquitto.js';
import { until } from './helpers/process.js';
import { centre, cleanup, eventsOf, execute, gateway, GW, LOG_MD, metric, mosquitto, ROOT, runEvents, TICK } from './helpers/upstream.js';
import { cli, sopToml } from './helpers/workspace.js';

const EXTERNAL_MD = '# Deploy\n\n## Steps\n\n1. **Ship it** — Done by a person.\n';
const SOPS = {
  ...TICK,
  'sops/deploy/SOP.toml': sopToml('deploy', 'execution_mode = "supervised"'),
  'sops/deploy/SOP.md': EXTERNAL_MD,
  'sops/cool/SOP.toml': sopToml('cool', 'execution_mode = "auto"\ncooldown_secs = 600'),
  'sops/cool/SOP.md': LOG_MD,
  'sops/hot/SOP.toml': sopToml('hot', 'execution_mode = "auto"\nmax_concurrent = 10', '[[triggers]]\ntype = "mqtt"\ntopic = "plant/+/temp"\ncondition = "$.t > 50"\n'),
  'sops/hot/SOP.md': LOG_MD,
};

function ledger(h: DaemonHarness, runId: string): Promise<string[]> {
  return h.api('GET', `/api/ledger?run=${runId}`).then((r) => (r.body as { kind: string; actor: string }[]).map((e) => `${e.kind} ${e.actor}`));
}

describe('upstream to a real mosquitto', { skip: noMosquitto() }, () => {
  test('run events go up in order; approve, result, cancel and execute come down, as the actor "upstream"', async () => {
    const broker = await mosquitto();
    const c = await centre(broker);
    const h = await gateway(broker, SOPS, 'subscribe = ["plant/#"]');
    const birth = await c.waitFor((m) => m.find((x) => x.topic === `${ROOT}status`), 'the birth message');
    const online = JSON.parse(birth.payload);
    assert.equal(online.state, 'online');
    assert.deepEqual([...online.sops].sort(), ['cool', 'deploy', 'hot', 'tick']);
    assert.match(online.started_at, /^\d{4}-\d\d-\d\dT/);

    // execute from the centre; its payload is the trigger's
    await c.publish(`${ROOT}sops/deploy/execute`, '{"version":"2.0"}');
    const [started] = await c.waitFor((m) => (runEvents(m).length >= 2 ? runEvents(m) : undefined), 'the run from the execute');
    const id = started!.split(' ')[0]!;
    assert.deepEqual(runEvents(c.messages), [`${id} started`, `${id} waiting_approval`]);
    const run = (await h.api('GET', `/api/runs/${id}`)).body;
    assert.deepEqual([run.trigger_event.source, run.trigger_event.payload], ['manual', '{"version":"2.0"}']);

    await c.publish(`${ROOT}runs/${id}/approve`, '');
    const step = await c.waitFor((m) => m.find((x) => x.topic === `${ROOT}runs/${id}/step`), 'the external step');
    assert.equal(JSON.parse(step.payload).step.title, 'Ship it');
    await c.publish(`${ROOT}runs/${id}/result`, 'not json');
    await c.publish(`${ROOT}runs/${id}/result`, '{"status":"completed","output":"shipped"}');
    const events = await c.waitFor(eventsOf(id, 4), 'the completed run');
    assert.deepEqual(events, [`${id} started`, `${id} waiting_approval`, `${id} step`, `${id} completed`]);
    const completed = JSON.parse(c.messages.find((m) => m.topic === `${ROOT}runs/${id}/completed`)!.payload);
    assert.equal(completed.step_results[0].output, 'shipped');
    assert.deepEqual(await ledger(h, id), ['started upstream', 'waiting engine', 'approved upstream', 'step_started engine', 'advanced upstream', 'step_finished engine', 'completed engine']);
    assert.ok(h.logs.some((l) => /warn \[upstream\] result from upstream for run \S+ ignored: not JSON/.test(l)));

    const other = await execute(h, 'deploy');
    await c.publish(`${ROOT}runs/${other}/cancel`, '');
    await c.waitFor((m) => m.find((x) => x.topic === `${ROOT}runs/${other}/cancelled`), 'the cancelled run');
    assert.deepEqual((await ledger(h, other)).at(-1), 'cancelled upstream');

    // Refusals: logged, and in the ledger.
    await c.publish(`${ROOT}sops/nope/execute`, '');
    await c.publish(`${ROOT}sops/hot/execute`, '');
    await c.publish(`${ROOT}sops/cool/execute`, '');
    await c.publish(`${ROOT}sops/cool/execute`, '');
    await until(async () => (h.logs.some((l) => /execute cool from upstream refused: cool is cooling down/.test(l)) ? true : undefined), 'the cooldown refusal');
    assert.ok(h.logs.some((l) => l === 'warn [upstream] execute nope from upstream refused: no SOP named "nope" is loaded'));
    assert.ok(h.logs.some((l) => l === 'warn [upstream] execute hot from upstream refused: hot declares no manual trigger'));
    const refused = ((await h.api('GET', '/api/ledger?limit=50')).body as { kind: string; sop_name: string; detail: string }[]).filter((e) => e.kind === 'refused');
    assert.deepEqual(refused.map((e) => `${e.sop_name} ${e.detail.split(':')[0]}`).sort(), ['cool cooldown', 'hot no_manual_trigger', 'nope unknown_sop']);

    // A subscribed topic is an `mqtt` event like a local one: same matcher, same conditions.
    await c.publish('plant/a/temp', '{"t":20}');
    await c.publish('plant/b/temp', '{"t":70}');
    const hot = await until(async () => {
      const runs = (await h.api('GET', '/api/runs?sop=hot')).body as { run_id: string; status: string; trigger_event: { topic: string } }[];
      return runs.length === 1 && runs[0]!.status === 'completed' ? runs[0] : undefined;
    }, 'the run of the sensor event');
    assert.equal(hot!.trigger_event.topic, 'plant/b/temp');

    await until(async () => ((await metric(h, 'sopgate_upstream_outbox_messages')) === 0 ? true : undefined), 'an empty outbox');
    assert.equal(await metric(h, 'sopgate_upstream_connected'), 1);
    const sent = await metric(h, 'sopgate_upstream_sent_total');
    await c.waitFor((m) => (runEvents(m).length === sent ? true : undefined), 'every event sent');
    assert.equal(await metric(h, 'sopgate_upstream_dropped_total'), 0);
    const status = (await h.api('GET', '/api/status')).body.upstream;
    assert.deepEqual([status.connected, status.gateway_id, status.outbox_messages, status.sent_total], [true, GW, 0, sent]);
    const shown = await cli(h.root, 'status', '--config', h.cliConfig);
    assert.match(shown.stdout, new RegExp(`^upstream: connected to mqtt://127\\.0\\.0\\.1:${broker.port} as ${GW} since \\S+; 0 run event\\(s\\) waiting, ${sent} sent, 0 dropped$`, 'm'));

    await h.daemon.stop();
    const offline = await c.waitFor((m) => [...m].reverse().find((x) => x.topic === `${ROOT}status` && x.payload.includes('offline')), 'the offline status');
    assert.deepEqual(JSON.parse(offline.payload), { state: 'offline' });
  });

  test('commands published while the gateway was away arrive once it is back', async () => {
    const broker = await mosquitto();
    const c = await centre(broker);
    const first = await gateway(broker, SOPS);
    const id = await execute(first, 'deploy');
    await c.waitFor(eventsOf(id, 2), 'the waiting run');
    await first.daemon.stop();
    await c.waitFor((m) => [...m].reverse().find((x) => x.topic === `${ROOT}status` && x.payload.includes('offline')), 'the gateway gone');

    await c.publish(`${ROOT}runs/${id}/approve`, '');
    const again = await gateway(broker, SOPS, '', { root: first.root });
    await c.waitFor((m) => m.find((x) => x.topic === `${ROOT}runs/${id}/step`), 'the approval to take effect');
    assert.equal((await again.api('GET', `/api/runs/${id}`)).body.status, 'running');
    assert.deepEqual((await ledger(again, id)).slice(0, 3), ['started engine', 'waiting engine', 'approved upstream']);
    assert.ok(again.logs.some((l) => /info \[upstream\] connected to .* \(session resumed\)/.test(l)));
  });

  test('a subscription an earlier configuration left in the session starts nothing', async () => {
    const broker = await mosquitto();
    const c = await centre(broker);
    const files = { 'sops/any/SOP.toml': sopToml('any', 'execution_mode = "auto"\nmax_concurrent = 10', '[[triggers]]\ntype = "mqtt"\ntopic = "+/x"\n'), 'sops/any/SOP.md': LOG_MD };
    const first = await gateway(broker, files, 'subscribe = ["old/#"]');
    await c.waitFor((m) => m.find((x) => x.topic === `${ROOT}status`), 'the birth message');
    await first.daemon.stop();
    const again = await gateway(broker, files, 'subscribe = ["new/#"]', { root: first.root });
    await until(async () => ((await metric(again, 'sopgate_upstream_connected')) === 1 ? true : undefined), 'connected again');
    await c.publish('old/x', '1');
    await c.publish('new/x', '2');
    const runs = await until(async () => {
      const list = (await again.api('GET', '/api/runs?sop=any')).body as { trigger_event: { topic: string } }[];
      return list.length > 0 ? list : undefined;
    }, 'the run of new/x');
    assert.deepEqual(runs.map((r) => r.trigger_event.topic), ['new/x']);
    assert.ok(again.logs.includes('debug [upstream] message on old/x ignored: no [upstream] subscribe filter takes it'));
  });

  test('a run event over the broker\'s maximum packet size is dropped and counted, not sent again and again', async () => {
    const broker = await mosquitto({ global: ['allow_anonymous true', 'max_packet_size 4000'] });
    const c = await centre(broker);
    const h = await gateway(broker, SOPS);
    await c.waitFor((m) => m.find((x) => x.topic === `${ROOT}status`), 'the birth message');
    const big = await h.api('POST', '/api/sops/tick/execute', 'x'.repeat(5000));
    assert.equal(big.status, 201);
    const small = await execute(h, 'tick');
    const events = await c.waitFor(eventsOf(small, 2), 'the small run\'s events');
    assert.deepEqual(events, [`${small} started`, `${small} completed`]);
    assert.deepEqual(runEvents(c.messages, big.body.run_id), []);
    assert.equal((await h.api('GET', '/api/status')).body.upstream.dropped_total, 2);
    assert.ok(h.logs.some((l) => new RegExp(`^warn \\[upstream\\] the broker refused run event ${ROOT}runs/${big.body.run_id}/started: \\d+ bytes, over the broker's maximum packet size of 4000; dropped$`).test(l)));
    assert.equal(await metric(h, 'sopgate_upstream_connected'), 1, 'still connected');
  });

  test('forward mirrors the embedded broker\'s topics under the gateway\'s own; a reload updates the birth message', async () => {
    const broker = await mosquitto();
    const c = await centre(broker);
    const h = await gateway(broker, SOPS, 'forward = ["sensors/#"]');
    await c.waitFor((m) => m.find((x) => x.topic === `${ROOT}status`), 'the birth message');
    const local = await mqtt.connectAsync(`mqtt://127.0.0.1:${h.listening.mqtt!.port}`);
    cleanup(() => local.endAsync());
    await local.publishAsync('sensors/door', 'open');
    await local.publishAsync('other/topic', 'not forwarded');
    await local.publishAsync('sensors/window', 'shut', { qos: 1 });
    const forwarded = await c.waitFor((m) => {
      const f = m.filter((x) => x.topic.startsWith(`${ROOT}forward/`)).map((x) => `${x.topic.slice(ROOT.length)} ${x.payload}`);
      return f.length === 2 ? f : undefined;
    }, 'the forwarded messages');
    assert.deepEqual(forwarded, ['forward/sensors/door open', 'forward/sensors/window shut']);

    await mkdir(join(h.root, 'sops/later'));
    await writeFile(join(h.root, 'sops/later/SOP.toml'), sopToml('later'));
    await writeFile(join(h.root, 'sops/later/SOP.md'), LOG_MD);
    assert.equal((await h.api('POST', '/api/reload')).status, 200);
    const births = await c.waitFor((m) => {
      const b = m.filter((x) => x.topic === `${ROOT}status`).map((x) => JSON.parse(x.payload) as { sops: string[] });
      return b.length === 2 ? b : undefined;
    }, 'the birth message after the reload');
    assert.ok(births[1]!.sops.includes('later') && !births[0]!.sops.includes('later'));
    assert.ok(!c.messages.some((m) => m.topic.includes('other/topic')));
  });

  test('attach mode: no embedded broker, mosquitto is the only one; a sensor starts a run and mqtt_publish goes there, never back', async () => {
    const broker = await mosquitto();
    const before = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`);
    await before.publishAsync('sensors/boot', 'retained state from before', { qos: 1, retain: true });
    await before.endAsync();
    const echoToml = sopToml('echo', 'execution_mode = "auto"\nmax_concurrent = 10', '[[triggers]]\ntype = "mqtt"\ntopic = "sensors/#"\n');
    const echoMd = '# Echo\n\n## Steps\n\n1. **Echo**\n\n   ```mqtt_publish\n   topic = "sensors/echo"\n   payload = \'{"seen": "{{payload}}"}\'\n   qos = 1\n   ```\n';
    const h = await gateway(broker, { 'sops/echo/SOP.toml': echoToml, 'sops/echo/SOP.md': echoMd }, 'subscribe = ["sensors/#"]', { mqttListen: '' });
    assert.equal(h.listening.mqtt, null);
    const sensor = await Centre.connect(broker.port, ['sensors/echo'], { clean: true, properties: {} });
    cleanup(() => sensor.close());
    await until(async () => ((await metric(h, 'sopgate_upstream_connected')) === 1 ? true : undefined), 'the gateway attached');

    await sensor.publish('sensors/door', 'open');
    const echo = await sensor.waitFor((m) => m.find((x) => x.topic === 'sensors/echo'), 'the echo');
    assert.deepEqual(JSON.parse(echo.payload), { seen: 'open' });
    // Anything the echo triggered would come before this later message's run.
    await sensor.publish('sensors/window', 'shut');
    const runs = await until(async () => {
      const list = (await h.api('GET', '/api/runs?sop=echo')).body as { status: string; trigger_event: { topic: string } }[];
      return list.length >= 2 && list.every((r) => r.status === 'completed') ? list : undefined;
    }, 'two runs');
    assert.deepEqual(runs.map((r) => r.trigger_event.topic).sort(), ['sensors/door', 'sensors/window'], 'neither the retained state nor the gateway\'s own publish started anything');
  });
});
