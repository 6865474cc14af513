// Authentication and the gateway-topic ACL of the embedded broker, with real mqtt.js clients.
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import type { MqttUser } from '../src/config/config.js';
import type { Run } from '../src/core/run.js';
import type { GatewayEvent } from '../src/core/events.js';
import { memoryLogger } from '../src/core/log.js';
import { EmbeddedBroker } from '../src/sources/mqtt/broker.js';
import { hashPassword } from '../src/sources/mqtt/password.js';

/** mqtt.js types its events, so node:events once() does not take its clients. */
const whenClosed = (c: MqttClient) => new Promise<void>((resolve) => c.once('close', () => resolve()));
const whenMessage = (c: MqttClient) => new Promise<[string, Buffer]>((resolve) => c.once('message', (topic, payload) => resolve([topic, payload])));

const users: MqttUser[] = [
  { username: 'alice', password_hash: hashPassword('alice-pw'), gateway_access: 'readwrite' },
  { username: 'bob', password_hash: hashPassword('bob-pw'), gateway_access: 'read' },
  { username: 'carol', password_hash: hashPassword('carol-pw'), gateway_access: 'none' },
];
const RUN = { run_id: 'r-1', sop_name: 'fan', status: 'running' } as Run;

const events: GatewayEvent[] = [];
const results: string[] = [];
const signal = new EventEmitter();
const logger = memoryLogger();
const broker = new EmbeddedBroker({
  listen: '127.0.0.1:0',
  eventPrefix: 'site/gw',
  maxPacketBytes: 4096,
  maxConnections: 50,
  users,
  logger,
  onEvent: (e) => {
    events.push(e);
    signal.emit('event', e);
  },
  onResult: (runId, r, clientId) => {
    results.push(`${runId} ${r.status} ${clientId}`);
    signal.emit('result');
  },
});
let port = 0;
const clients: MqttClient[] = [];

before(async () => {
  ({ port } = await broker.start());
});
after(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await broker.stop();
});

async function connect(opts: IClientOptions = {}): Promise<MqttClient> {
  const c = await connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, ...opts }, false);
  clients.push(c);
  return c;
}
const as = (name: string) => connect({ username: name, password: `${name}-pw`, clientId: name });

async function eventOn(topic: string): Promise<void> {
  while (!events.some((e) => e.topic === topic)) await once(signal, 'event');
}

describe('broker authentication', () => {
  test('anonymous clients are refused once users exist (not authorized)', async () => {
    await assert.rejects(connect(), (err: Error & { code?: number }) => err.code === 5);
  });

  test('a wrong password or an unknown user is refused (bad username or password)', async () => {
    await assert.rejects(connect({ username: 'alice', password: 'nope' }), (err: Error & { code?: number }) => err.code === 4);
    await assert.rejects(connect({ username: 'mallory', password: 'alice-pw' }), (err: Error & { code?: number }) => err.code === 4);
    assert.ok(broker.stats().authFailures >= 2);
    assert.ok(logger.lines.some((l) => l.startsWith('warn') && l.includes('bad username or password for "mallory"')));
  });

  test('the right password connects, and its publishes are events', async () => {
    const c = await as('carol');
    await c.publishAsync('sensors/door', 'open');
    await eventOn('sensors/door');
  });
});

describe('broker ACL on <event_prefix>/', () => {
  test('a "none" user cannot subscribe to gateway topics, nor receive them through #', async () => {
    const carol = await as('carol');
    // SUBACK 0x80, which mqtt.js reports as an error.
    await assert.rejects(carol.subscribeAsync('site/gw/runs/#'), /Subscribe error/);
    const [wide] = await carol.subscribeAsync('#');
    assert.equal(wide?.qos, 0);
    const bob = await as('bob');
    const [granted] = await bob.subscribeAsync('+/gw/runs/#');
    assert.equal(granted?.qos, 0);

    const seenByCarol: string[] = [];
    carol.on('message', (topic) => seenByCarol.push(topic));
    const bobGot = whenMessage(bob);
    broker.publishRunEvent({ kind: 'started', run: RUN });
    const [topic, payload] = await bobGot;
    assert.equal(topic, 'site/gw/runs/r-1/started');
    assert.deepEqual(JSON.parse(payload.toString()), RUN);
    // Delivered in order: carol sees the marker, so she would have seen the run event first.
    const marker = whenMessage(carol);
    await bob.publishAsync('sensors/marker', '1');
    await marker;
    assert.deepEqual(seenByCarol, ['sensors/marker']);
  });

  test('"none" and "read" users cannot publish results: the connection is closed, nothing reported', async () => {
    for (const name of ['carol', 'bob']) {
      const c = await as(name);
      const closed = whenClosed(c);
      c.publish('site/gw/runs/r-1/result', '{"status":"completed"}');
      await closed;
    }
    assert.deepEqual(results, []);
    assert.ok(logger.lines.some((l) => l.includes('client bob disconnected: publish on site/gw/runs/r-1/result refused')));
  });

  test('a "readwrite" user reports results, and only on .../result', async () => {
    const alice = await as('alice');
    await alice.publishAsync('site/gw/runs/r-5/result', '{"status":"completed","output":"done"}');
    while (results.length === 0) await once(signal, 'result');
    assert.deepEqual(results, ['r-5 completed alice']);
    const closed = whenClosed(alice);
    alice.publish('site/gw/runs/r-5/started', '{}');
    await closed;
    assert.ok(broker.stats().denied >= 3);
  });

  test('nobody publishes on $SYS/', async () => {
    const alice = await as('alice');
    const closed = whenClosed(alice);
    alice.publish('$SYS/fake/heartbeat', 'x');
    await closed;
  });
});
