// The gateway end to end, in-process: real broker, real HTTP, real SQLite, the CLI client.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { hashPassword } from '../src/sources/mqtt/password.js';
import { startDaemon, type DaemonHarness } from './helpers/daemon.js';
import { externalStep, logSteps, sopToml, stepsMd, toolStep, trigger } from './helpers/fixtures.js';
import { until, WAIT_MS } from './helpers/process.js';
import { cli, removeTree } from './helpers/workspace.js';

const ALERT_TOML = sopToml(
  'temp-alert',
  'priority = "critical"\nexecution_mode = "auto"\nmax_concurrent = 100',
  trigger('type = "mqtt"', 'topic = "sensors/+/temp"', 'condition = "$.value >= 85"'),
);
const ALERT_MD = logSteps('hot: {{payload.value}}');
const DEPLOY_TOML = sopToml('deploy', 'execution_mode = "supervised"', trigger('type = "manual"') + trigger('type = "webhook"', 'path = "/sop/deploy"'));
const DEPLOY_MD = stepsMd(externalStep(1, 'Check', 'Look.'), externalStep(2, 'Ship', 'Ship it.'));

// Publishes on the topic its own trigger listens to: it must not start itself again.
const ECHO_TOML = sopToml('echo', 'execution_mode = "auto"\nmax_concurrent = 10', trigger('type = "mqtt"', 'topic = "echo/in"'));
const ECHO_MD = stepsMd(toolStep(1, 'mqtt_publish', 'topic = "echo/in"\npayload = \'{"seen": "{{payload.msg}}", "run": "{{run.id}}"}\'\nqos = 1', 'Echo'));

// Commands over MQTT need a user with gateway_access = "readwrite".
const OPERATOR = `[[mqtt.users]]\nusername = "operator"\npassword_hash = "${hashPassword('operator-pw')}"\ngateway_access = "readwrite"\n`;

let h: DaemonHarness;
let client: mqtt.MqttClient;
before(async () => {
  h = await startDaemon({
    'sops/temp-alert/SOP.toml': ALERT_TOML,
    'sops/temp-alert/SOP.md': ALERT_MD,
    'sops/deploy/SOP.toml': DEPLOY_TOML,
    'sops/deploy/SOP.md': DEPLOY_MD,
    'sops/echo/SOP.toml': ECHO_TOML,
    'sops/echo/SOP.md': ECHO_MD,
  }, OPERATOR);
  client = await mqtt.connectAsync(`mqtt://127.0.0.1:${h.listening.mqtt!.port}`, { username: 'operator', password: 'operator-pw', clientId: 'ops-console' });
});
after(async () => {
  await client.endAsync();
  await h.daemon.stop();
  await removeTree(h.root);
});

async function runsOf(sop: string): Promise<any[]> {
  return (await h.api('GET', `/api/runs?sop=${sop}`)).body;
}

/** The runs of `sop` once there is one and it has completed. */
function oneCompletedRun(sop: string): Promise<any[]> {
  return until(async () => {
    const runs = await runsOf(sop);
    return runs.length === 1 && runs[0].status === 'completed' ? runs : undefined;
  }, `one completed run of ${sop}`);
}

/** Run `id` once its status is `status`. */
function runWhen(id: string, status: string): Promise<any> {
  return until(async () => {
    const run = (await h.api('GET', `/api/runs/${id}`)).body;
    return run.status === status ? run : undefined;
  }, `run ${id} to be ${status}`);
}

describe('daemon', () => {
  test('an MQTT message that meets the condition starts a run; one that does not, none', async () => {
    const events: string[] = [];
    await client.subscribeAsync('sopgate/runs/#');
    client.on('message', (topic) => events.push(topic));
    await client.publishAsync('sensors/cold-room/temp', '{"value": 80}');
    await client.publishAsync('sensors/cold-room/temp', '{"value": 91}');
    const runs = await oneCompletedRun('temp-alert');
    assert.equal(runs.length, 1, 'only the hot reading started a run');
    assert.equal(runs[0].status, 'completed');
    assert.equal(runs[0].step_results[0].output, 'hot: 91');
    assert.equal(runs[0].trigger_event.topic, 'sensors/cold-room/temp');
    const id = runs[0].run_id;
    await until(async () => (events.includes(`sopgate/runs/${id}/completed`) ? true : undefined), 'the completed event');
    assert.ok(events.includes(`sopgate/runs/${id}/started`));
    assert.ok(events.includes(`sopgate/runs/${id}/completed`));
  });

  test('manual execute over HTTP, approve and advance with the CLI, the result over MQTT', async () => {
    const started = await h.api('POST', '/api/sops/deploy/execute', '{"version": "1.2"}');
    assert.equal(started.status, 201);
    const id = started.body.run_id;
    assert.equal(started.body.status, 'waiting_approval');

    const advanceEarly = await cli(h.root, 'advance', id, '--status', 'completed', '--config', h.cliConfig);
    assert.equal(advanceEarly.code, 1, 'advance is refused while waiting for approval');
    const approved = await cli(h.root, 'approve', id, '--config', h.cliConfig);
    assert.equal(approved.code, 0, approved.stderr);
    assert.match(approved.stdout, new RegExp(`run ${id}: running, step 1 of 2`));
    const advanced = await cli(h.root, 'advance', id, '--status', 'completed', '--output', 'looked', '--config', h.cliConfig);
    assert.equal(advanced.code, 0, advanced.stderr);

    await client.publishAsync(`sopgate/runs/${id}/result`, JSON.stringify({ status: 'completed', output: 'shipped' }));
    const run = await runWhen(id, 'completed');
    assert.equal(run.status, 'completed');
    assert.deepEqual(run.step_results.map((r: any) => r.output), ['looked', 'shipped']);
    // The ledger names who reported each result: the CLI through the API, a client over MQTT.
    const reported = (await h.api('GET', `/api/ledger?run=${id}`)).body.filter((e: any) => e.kind === 'advanced');
    assert.deepEqual(
      reported.map((e: any) => `${e.actor}: ${e.detail}`),
      ['cli: completed', 'mqtt: completed (user "operator", client id "ops-console")'],
    );

    const shown = await cli(h.root, 'runs', '--sop', 'deploy', '--json', '--config', h.cliConfig);
    assert.equal(JSON.parse(shown.stdout)[0].run_id, id);
  });

  test('mqtt_publish reaches subscribers, JSON-escaped, and never triggers a SOP', async () => {
    const listener = await mqtt.connectAsync(`mqtt://127.0.0.1:${h.listening.mqtt!.port}`, { username: 'operator', password: 'operator-pw' });
    try {
      const received: string[] = [];
      await listener.subscribeAsync('echo/in');
      listener.on('message', (_topic, payload) => received.push(payload.toString()));
      await client.publishAsync('echo/in', '{"msg": "say \\"hi\\""}');
      await until(async () => (received.length >= 2 ? true : undefined), 'the message and its echo');
      const echoed = received.map((r) => JSON.parse(r)).find((m) => 'seen' in m);
      assert.equal(echoed.seen, 'say "hi"');
      const runs = await oneCompletedRun('echo');
      assert.equal(runs.length, 1, 'the echo did not start the SOP again');
      assert.equal(runs[0].step_results[0].output, `published ${Buffer.byteLength(received.find((r) => r.includes('seen'))!)} bytes to echo/in`);
    } finally {
      await listener.endAsync();
    }
  });

  test('approve and cancel over MQTT; the ledger names who acted', async () => {
    const one = (await h.api('POST', '/api/sops/deploy/execute')).body.run_id;
    await client.publishAsync(`sopgate/runs/${one}/approve`, '');
    const approved = await runWhen(one, 'running');
    assert.equal(approved.current_step, 1);
    await client.publishAsync(`sopgate/runs/${one}/cancel`, '');
    const cancelled = await runWhen(one, 'cancelled');
    assert.equal(cancelled.reason, 'cancelled by mqtt');
    const ledger = (await h.api('GET', `/api/ledger?run=${one}`)).body;
    assert.deepEqual(
      ledger.filter((e: any) => e.actor !== 'engine').map((e: any) => `${e.kind} ${e.actor}: ${e.detail}`),
      ['approved mqtt: user "operator", client id "ops-console"', 'cancelled mqtt: cancelled by mqtt (user "operator", client id "ops-console")'],
    );

    const two = (await h.api('POST', '/api/sops/deploy/execute')).body.run_id;
    assert.equal((await cli(h.root, 'approve', two, '--config', h.cliConfig)).code, 0);
    await h.api('POST', `/api/runs/${two}/cancel`);
    const shown = await cli(h.root, 'runs', 'show', two, '--config', h.cliConfig);
    assert.match(shown.stdout, /^history:$/m);
    assert.match(shown.stdout, /approved step 1 by cli$/m);
    assert.match(shown.stdout, /cancelled by api: cancelled by api$/m);
  });

  test('cancel over the CLI; a second cancel is refused', async () => {
    const started = await h.api('POST', '/api/sops/deploy/execute');
    const id = started.body.run_id;
    assert.equal((await cli(h.root, 'cancel', id, '--config', h.cliConfig)).code, 0);
    const again = await cli(h.root, 'cancel', id, '--config', h.cliConfig);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /already cancelled/);
  });

  test('a 60 KB payload: sopgate runs lists its run, --json with the payload cut to a preview, runs show --json has it whole', async () => {
    const payload = `{"blob": "${'z'.repeat(60_000)}"}`;
    const id = (await h.api('POST', '/api/sops/deploy/execute', payload)).body.run_id;
    try {
      const table = await cli(h.root, 'runs', '--sop', 'deploy', '--config', h.cliConfig);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, new RegExp(`^${id}\\s+deploy\\s+waiting_approval\\s+1/2\\s`, 'm'));
      const listed = JSON.parse((await cli(h.root, 'runs', '--sop', 'deploy', '--json', '--config', h.cliConfig)).stdout)[0];
      assert.equal(listed.run_id, id);
      assert.equal(listed.trigger_event.payload, payload.slice(0, 256));
      assert.equal(listed.trigger_event.payload_truncated, true);
      const shown = JSON.parse((await cli(h.root, 'runs', 'show', id, '--json', '--config', h.cliConfig)).stdout);
      assert.equal(shown.trigger_event.payload, payload);
    } finally {
      await h.api('POST', `/api/runs/${id}/cancel`);
    }
  });

  test('reload with a broken SOP keeps the good ones and leaves the broken one out', async () => {
    await writeFile(join(h.root, 'sops/temp-alert/SOP.toml'), ALERT_TOML.replace('priority = "critical"', 'priority = "urgent"'));
    const reload = await h.api('POST', '/api/reload');
    assert.equal(reload.status, 200);
    assert.deepEqual({ ok: reload.body.ok, loaded: reload.body.loaded, errors: reload.body.errors }, { ok: true, loaded: 2, errors: 1 });
    const sops = (await h.api('GET', '/api/sops')).body.map((s: any) => s.name);
    assert.deepEqual(sops, ['deploy', 'echo']);
    assert.ok(h.logs.some((l) => /SOP temp-alert left out: .*priority must be one of/.test(l)));
    await writeFile(join(h.root, 'sops/temp-alert/SOP.toml'), ALERT_TOML);
    assert.equal((await h.api('POST', '/api/reload')).body.loaded, 3);
  });

  test('the SOP.md parse cache in state_dir never serves an edited file', async () => {
    const cache = join(h.root, 'state/sop-steps-cache.json');
    assert.ok(JSON.parse(await readFile(cache, 'utf8')).entries[join(h.root, 'sops/deploy/SOP.md')], 'kept after start and reloads');
    await writeFile(join(h.root, 'sops/deploy/SOP.md'), DEPLOY_MD.replace('**Ship** — Ship it.', '**Ship carefully** — Ship it.'));
    assert.equal((await h.api('POST', '/api/reload')).body.loaded, 3);
    const deploy = (await h.api('GET', '/api/sops/deploy')).body;
    assert.equal(deploy.steps[1].title, 'Ship carefully');
    await writeFile(join(h.root, 'sops/deploy/SOP.md'), DEPLOY_MD);
    assert.equal((await h.api('POST', '/api/reload')).body.loaded, 3);
    assert.equal((await h.api('GET', '/api/sops/deploy')).body.steps[1].title, 'Ship');
  });

  test('metrics and health', async () => {
    const health = await fetch(`http://127.0.0.1:${h.listening.http.port}/healthz`);
    assert.equal(health.status, 200);
    const scrape = async () => (await fetch(`http://127.0.0.1:${h.listening.http.port}/metrics`)).text();
    const metrics = await scrape();
    assert.match(metrics, /^sopgate_events_total\{source="mqtt"\} \d+$/m);
    assert.match(metrics, /^sopgate_runs_finished_total\{status="completed"\} [1-9]\d*$/m);
    assert.match(metrics, /^sopgate_broker_clients [1-9]/m);
    assert.match(metrics, /^sopgate_event_loop_delay_seconds\{quantile="0\.99"\} \d/m);
    // synchronous = "full" (the default): commits made durable by fdatasyncs of the WAL, timed.
    const value = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    assert.ok(value(metrics, 'sopgate_store_commits_total') >= 1);
    const syncs = value(metrics, 'sopgate_store_syncs_total');
    assert.ok(syncs >= 1, `${syncs} syncs`);
    assert.ok(value(metrics, 'sopgate_store_sync_seconds_sum') > 0);
    assert.ok(value(metrics, 'sopgate_store_sync_seconds_max') > 0, 'the slowest sync so far');
    // An idle loop is not late: the sampling timer's own 10 ms interval is not reported as delay.
    // Each scrape starts the figures afresh, so scrape every 200 ms until one stands on 10 samples.
    const idle = await until(
      async () => {
        const text = await scrape();
        return value(text, 'sopgate_event_loop_delay_samples') >= 10 ? text : undefined;
      },
      'a scrape whose loop delay stands on 10 samples',
      WAIT_MS,
      200,
    );
    const p50 = Number(/^sopgate_event_loop_delay_seconds\{quantile="0\.5"\} (\S+)$/m.exec(idle)?.[1]);
    assert.ok(p50 >= 0 && p50 < 0.005, `idle p50 ${p50} s`);
    // An idle gateway writes nothing, so it syncs nothing; the slowest sync is per scrape: none since the previous one reads 0.
    assert.equal(value(idle, 'sopgate_store_syncs_total'), syncs);
    assert.equal(value(idle, 'sopgate_store_sync_seconds_max'), 0);
  });

  test('a CLI pointed at no daemon says so in one line and exits 1', async () => {
    await writeFile(join(h.root, 'nowhere.toml'), '[http]\nlisten = "127.0.0.1:9"\ntoken = "x"\n');
    const r = await cli(h.root, 'runs', '--config', join(h.root, 'nowhere.toml'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^sopgate: cannot reach the sopgate daemon at http:\/\/127\.0\.0\.1:9/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  });
});
