// The upstream's parts on their own: its topics and commands, which received topics are
// events, and the reconnect back-off (a real socket refused, a manual clock).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildConfig } from '../src/config/config.js';
import { ManualClock } from './helpers/clock.js';
import { memoryLogger } from './helpers/logger.js';
import { UpstreamConnection } from '../src/sources/upstream/connection.js';
import { subscribedTo, UpstreamTopics } from '../src/sources/upstream/topics.js';
import { freePort } from './helpers/mosquitto.js';
import { until } from './helpers/process.js';

describe('upstream topics', () => {
  const t = new UpstreamTopics('sopgate/fleet', 'gw1');

  test('commands under <prefix>/<gateway_id>/, nothing else', () => {
    assert.deepEqual(t.command('sopgate/fleet/gw1/runs/r1/approve'), { kind: 'approve', runId: 'r1' });
    assert.deepEqual(t.command('sopgate/fleet/gw1/runs/r1/cancel'), { kind: 'cancel', runId: 'r1' });
    assert.deepEqual(t.command('sopgate/fleet/gw1/runs/r1/result'), { kind: 'result', runId: 'r1' });
    assert.deepEqual(t.command('sopgate/fleet/gw1/sops/deploy/execute'), { kind: 'execute', sop: 'deploy' });
    for (const topic of [
      'sopgate/fleet/gw1/runs/r1/started',
      'sopgate/fleet/gw1/runs/r1/approve/more',
      'sopgate/fleet/gw1/runs//approve',
      'sopgate/fleet/gw1/sops/deploy/run',
      'sopgate/fleet/gw1/status',
      'sopgate/fleet/gw2/runs/r1/approve',
      'sopgate/fleet/gw10/runs/r1/approve',
    ]) {
      assert.equal(t.command(topic), null, topic);
    }
    assert.deepEqual(t.commandFilters(), [
      'sopgate/fleet/gw1/runs/+/approve',
      'sopgate/fleet/gw1/runs/+/cancel',
      'sopgate/fleet/gw1/runs/+/result',
      'sopgate/fleet/gw1/sops/+/execute',
    ]);
    assert.equal(t.full('runs/r1/started'), 'sopgate/fleet/gw1/runs/r1/started');
    assert.equal(t.forwarded('sensors/a'), 'sopgate/fleet/gw1/forward/sensors/a');
    assert.ok(t.owns('sopgate/fleet/gw1/anything') && !t.owns('sopgate/fleet/gw10/x'));
  });

  test('a received topic is an event only under a configured filter, shared subscriptions included', () => {
    assert.ok(subscribedTo(['zigbee2mqtt/#'], 'zigbee2mqtt/door'));
    assert.ok(subscribedTo(['$share/g/plant/+/temp'], 'plant/a/temp'));
    assert.ok(!subscribedTo(['plant/+/temp'], 'plant/a/b/temp'));
    assert.ok(!subscribedTo([], 'anything'));
    assert.ok(!subscribedTo(['#'], '$SYS/broker/uptime'));
  });
});

describe('reconnecting', () => {
  test('a refused connection is said once, then tried after 1, 2, 4 ... up to every 30 s', async () => {
    const port = await freePort(); // nobody listens there
    const built = buildConfig(`[upstream]\nurl = "mqtt://127.0.0.1:${port}"\ngateway_id = "gw1"\n`, null, '/');
    assert.ok(built.ok);
    const clock = new ManualClock();
    const logger = memoryLogger();
    const connection = new UpstreamConnection({
      config: built.config.upstream,
      maxPacketBytes: 1024,
      topics: new UpstreamTopics('sopgate', 'gw1'),
      filters: () => [],
      clock,
      logger,
      birth: () => '{}',
      onUp: () => assert.fail('no broker there'),
      onDown: () => {},
      onMessage: (_topic, _payload, _retained, done) => done(),
    });
    const waits: number[] = [];
    const nextFailure = async () => {
      const n = logger.lines.length;
      const line = await until(async () => logger.lines.slice(n).find((l) => /retrying in \d+ s/.test(l)), 'a failed attempt');
      const wait = Number(/retrying in (\d+) s/.exec(line)![1]);
      waits.push(wait);
      return wait;
    };
    connection.start();
    try {
      let wait = await nextFailure();
      for (let i = 0; i < 6; i++) {
        const failure = nextFailure();
        clock.advance(wait * 1000);
        wait = await failure;
      }
      assert.deepEqual(waits, [1, 2, 4, 8, 16, 30, 30]);
      assert.equal(logger.lines.filter((l) => l.startsWith('error ')).length, 1, 'said once');
      assert.match(logger.lines.find((l) => l.startsWith('error '))!, /cannot connect to mqtt:\/\/127\.0\.0\.1:\d+: connection refused \(is the broker running there\?\); retrying in 1 s, then up to every 30 s$/);
      assert.equal(connection.connected, false);
      assert.match(connection.lastError!, /connection refused/);
    } finally {
      await connection.stop();
    }
    assert.equal(clock.pending, 0, 'no attempt left armed after stop');
  });
});
