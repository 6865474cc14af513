// Authentication and the gateway-topic ACL of the embedded broker, with real mqtt.js clients.
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';
import type { MqttUser } from '../src/config/config.js';
import type { Run } from '../src/core/run.js';
import type { GatewayEvent } from '../src/core/events.js';
import { memoryLogger } from './helpers/logger.js';
import { EmbeddedBroker } from '../src/sources/mqtt/broker.js';
import { hashPassword } from '../src/sources/mqtt/password.js';
import { startBroker } from './helpers/broker.js';
import { rawConnect } from './helpers/mqtt-raw.js';

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
const commands: string[] = [];
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
  onResult: (runId, r, sender) => {
    results.push(`${runId} ${r.status} ${sender.username} ${sender.clientId}`);
    signal.emit('result');
  },
  onCommand: (runId, command, sender) => {
    commands.push(`${runId} ${command} ${sender.username} ${sender.clientId}`);
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
    assert.deepEqual(results, ['r-5 completed alice alice']);
    const closed = whenClosed(alice);
    alice.publish('site/gw/runs/r-5/started', '{}');
    await closed;
    assert.ok(broker.stats().denied >= 3);
  });

  test('a command names its sender: the user and the client id', async () => {
    const alice = await as('alice');
    await alice.publishAsync('site/gw/runs/r-6/approve', '');
    while (commands.length === 0) await once(signal, 'result');
    assert.deepEqual(commands, ['r-6 approve alice alice']);
  });

  test('only "readwrite" users see $SYS/ (client ids and subscriptions)', async () => {
    for (const name of ['carol', 'bob']) {
      await assert.rejects((await as(name)).subscribeAsync('$SYS/#'), /Subscribe error/);
    }
    const alice = await as('alice');
    const [granted] = await alice.subscribeAsync('$SYS/+/new/clients');
    assert.equal(granted?.qos, 0);
    const got = whenMessage(alice);
    await connect({ username: 'bob', password: 'bob-pw', clientId: 'agent-7' });
    const [topic, payload] = await got;
    assert.match(topic, /^\$SYS\/.+\/new\/clients$/);
    assert.equal(payload.toString(), 'agent-7');
  });

  test('nobody publishes on $SYS/', async () => {
    const alice = await as('alice');
    const closed = whenClosed(alice);
    alice.publish('$SYS/fake/heartbeat', 'x');
    await closed;
  });
});

describe('anonymous clients (no [[mqtt.users]])', () => {
  test('may follow run events but not send commands, nor see $SYS/', async (t) => {
    const commandsSeen: string[] = [];
    const h = await startBroker(t, { onCommand: (runId, command) => commandsSeen.push(`${runId} ${command}`) });
    const c = await h.connect();
    const [granted] = await c.subscribeAsync('sopgate/runs/#');
    assert.equal(granted?.qos, 0);
    const got = whenMessage(c);
    h.broker.publishRunEvent({ kind: 'started', run: RUN });
    assert.equal((await got)[0], 'sopgate/runs/r-1/started');
    await assert.rejects(c.subscribeAsync('$SYS/#'), /Subscribe error/);

    for (const command of ['approve', 'cancel', 'result']) {
      const d = await h.connect();
      const closed = whenClosed(d);
      d.publish(`sopgate/runs/r-1/${command}`, command === 'result' ? '{"status":"completed"}' : '');
      await closed;
    }
    // A marker after the refused commands: had any gone through, it would be in the list first.
    const m = await h.connect();
    await m.publishAsync('sensors/marker', '1');
    await h.event('sensors/marker');
    assert.deepEqual(commandsSeen, []);
    assert.deepEqual(h.results, []);
    assert.ok(h.logger.lines.some((l) => l.startsWith('warn') && l.includes('anonymous clients have "read"')));
  });
});

describe('MQTT 3.1.1 refusals', () => {
  test('a zero-length client id without a clean session: CONNACK 0x02 identifier rejected [MQTT-3.1.3-8]', async (t) => {
    const h = await startBroker(t);
    // CONNECT, MQTT 3.1.1, flags 0 (no clean session), keepalive 0, client id "".
    const c = await rawConnect(h.port, Buffer.from([0x10, 12, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x00, 0, 0, 0, 0]));
    const connack = (await c.next('connack')) as { returnCode?: number };
    assert.equal(connack.returnCode, 2);
    await c.closed;
    // With a clean session the same CONNECT is accepted (the broker makes up an id).
    const ok = await rawConnect(h.port, { clientId: '', clean: true });
    assert.equal(((await ok.next('connack')) as { returnCode?: number }).returnCode, 0);
    ok.socket.destroy();
  });

  test('a topic or filter with U+0000 closes the connection and is never an event [MQTT-4.7.3-2]', async (t) => {
    const h = await startBroker(t);
    const pub = await rawConnect(h.port, { clientId: 'nul-pub' });
    await pub.next('connack');
    pub.send({ cmd: 'publish', topic: 'sensors/a\u0000b', payload: '1', qos: 0, retain: false, dup: false });
    await pub.closed;
    const sub = await rawConnect(h.port, { clientId: 'nul-sub' });
    await sub.next('connack');
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/\u0000/#', qos: 0 }] });
    await sub.closed;
    // A will that would be published on such a topic: refused at CONNECT, no CONNACK.
    const will = await rawConnect(h.port, { clientId: 'nul-will', will: { topic: 'sensors/\u0000', payload: Buffer.from('gone'), qos: 0, retain: false } });
    await will.closed;
    const m = await h.connect();
    await m.publishAsync('sensors/marker', '1');
    await h.event('sensors/marker');
    assert.deepEqual(h.events.map((e) => e.topic), ['sensors/marker']);
    assert.equal(h.broker.stats().denied, 3);
  });
});
