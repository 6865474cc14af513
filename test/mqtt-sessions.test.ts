// Persistent sessions (clean session 0): what the broker keeps for a client that went
// away is bounded by max_queued_messages and max_queued_bytes, as mosquitto bounds an
// offline client's queue (past them newer messages for it are dropped and counted); a
// connected client is not bounded by it, and its QoS 2 messages each complete once.
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { startBroker } from './helpers/broker.js';
import { startDaemon } from './helpers/daemon.js';
import { metric } from './helpers/mosquitto.js';
import { rawConnect } from './helpers/mqtt-raw.js';
import { until, withTimeout } from './helpers/process.js';
import { ONE_STEP_MD, removeTree, sopToml } from './helpers/workspace.js';

const WAIT_MS = 10_000;

interface Session {
  client: MqttClient;
  /** Payloads received on sensors/#, in order. */
  received: string[];
  sessionPresent: boolean;
  /** Resolves once `n` payloads have been received. */
  receivedAtLeast(n: number): Promise<void>;
}

/**
 * Connects `clientId` with a listener in place before CONNACK: what was queued for a
 * returning session arrives right behind it.
 */
async function session(t: TestContext, port: number, clientId: string, clean = false): Promise<Session> {
  const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, { clientId, clean, reconnectPeriod: 0 });
  t.after(() => client.endAsync(true));
  const received: string[] = [];
  const waiting: (() => void)[] = [];
  client.on('message', (topic, payload) => {
    if (!topic.startsWith('sensors/')) return;
    received.push(payload.toString());
    for (const wake of waiting.splice(0)) wake();
  });
  const connack = await withTimeout(
    new Promise<{ sessionPresent: boolean }>((resolve, reject) => {
      client.once('connect', resolve);
      client.once('error', reject);
    }),
    WAIT_MS,
    `${clientId} to connect`,
  );
  const receivedAtLeast = async (n: number): Promise<void> => {
    while (received.length < n) await withTimeout(new Promise<void>((wake) => waiting.push(wake)), WAIT_MS, `${n} messages for ${clientId} (${received.length} so far: ${received.join()})`);
  };
  return { client, received, sessionPresent: connack.sessionPresent, receivedAtLeast };
}

/** How many clients the broker counts as connected. */
type Clients = () => number | Promise<number>;

/** Ends `s` and resolves once the broker no longer counts it as connected. */
async function away(s: Session, clients: Clients): Promise<void> {
  const before = await clients();
  await s.client.endAsync();
  await until(async () => ((await clients()) < before ? true : undefined), `the broker to see ${s.client.options.clientId} leave`);
}

/** A persistent session subscribed to sensors/# that then goes away. */
async function leaveSubscribed(t: TestContext, port: number, clients: Clients, clientId: string, qos: 1 | 2 = 1): Promise<void> {
  const s = await session(t, port, clientId);
  await s.client.subscribeAsync('sensors/#', { qos });
  await away(s, clients);
}

const numbered = (from: number, count: number, width = 0) => Array.from({ length: count }, (_, i) => `m${from + i}`.padEnd(width, '.'));

/** Publishes each payload on sensors/t at `qos`, one after the other (each acknowledged). */
async function publishAll(sensor: MqttClient, payloads: readonly string[], qos: 1 | 2 = 1): Promise<void> {
  for (const p of payloads) await sensor.publishAsync('sensors/t', p, { qos });
}

/** The session receives `expected` and nothing more: a marker published now comes right after. */
async function receivesExactly(s: Session, sensor: MqttClient, expected: readonly string[]): Promise<void> {
  await s.receivedAtLeast(expected.length);
  await sensor.publishAsync('sensors/marker', 'marker', { qos: 1 });
  await s.receivedAtLeast(expected.length + 1);
  assert.deepEqual(s.received, [...expected, 'marker']);
}

/** The embedded broker with `limits`, and a count of its connected clients. */
async function broker(t: TestContext, deps: Parameters<typeof startBroker>[1]) {
  const h = await startBroker(t, deps);
  return { ...h, clients: () => h.broker.clients() };
}
type Broker = Awaited<ReturnType<typeof broker>>;

const queued = (h: Broker) => {
  const { sessionMessages, sessionBytes } = h.broker.stats();
  return { sessionMessages, sessionBytes };
};
/** Resolves once nothing is held for any session (the broker says nothing when its PUBACKs are in). */
const drained = (h: Broker) =>
  until(async () => (h.broker.stats().sessionMessages === 0 && h.broker.stats().sessionBytes === 0 ? true : undefined), 'every session queue to empty');

describe('persistent sessions', () => {
  test('a client away gets at most max_queued_messages kept: the first ones, in order, once each; the rest are dropped and counted', async (t) => {
    const h = await broker(t, { limits: { max_queued_messages: 5 } });
    await leaveSubscribed(t, h.port, h.clients, 'dash');
    const sensor = await h.connect();
    await publishAll(sensor, numbered(0, 12));
    assert.equal(h.broker.stats().offlineDropped, 7);
    assert.equal(queued(h).sessionMessages, 5);
    // More while it is still away: nothing more is kept, and the warning is not repeated.
    await publishAll(sensor, numbered(12, 10));
    assert.equal(h.broker.stats().offlineDropped, 17);
    assert.equal(queued(h).sessionMessages, 5);
    const warned = () => h.logger.lines.filter((l) => l.startsWith('warn') && l.includes('client dash') && l.includes('max_queued_messages'));
    assert.equal(warned().length, 1, h.logger.lines.join('\n'));
    // Every message still became an event: the sensor is not held back by the absent dashboard.
    assert.equal(h.events.filter((e) => e.topic === 'sensors/t').length, 22);

    const back = await session(t, h.port, 'dash');
    assert.equal(back.sessionPresent, true);
    await receivesExactly(back, sensor, numbered(0, 5));
    await drained(h);
    assert.ok(h.logger.lines.some((l) => l.includes('client dash') && l.includes('17') && l.includes('dropped while it was away')), h.logger.lines.join('\n'));

    // Away again: a new episode, counted from an empty queue, with a warning of its own.
    await away(back, h.clients);
    await publishAll(sensor, numbered(100, 7));
    assert.equal(queued(h).sessionMessages, 5);
    assert.equal(h.broker.stats().offlineDropped, 19);
    assert.equal(warned().length, 2);
    const again = await session(t, h.port, 'dash');
    await receivesExactly(again, sensor, numbered(100, 5));
  });

  test('a client away gets at most max_queued_bytes kept (the message that crosses the bound is the last kept)', async (t) => {
    const h = await broker(t, { limits: { max_queued_messages: 100, max_queued_bytes: 1000 } });
    await leaveSubscribed(t, h.port, h.clients, 'dash');
    const sensor = await h.connect();
    // 200 bytes of payload, 9 of topic, 8 of header: 217 each; four make 868, a fifth 1085.
    await publishAll(sensor, numbered(0, 9, 200));
    assert.deepEqual(queued(h), { sessionMessages: 5, sessionBytes: 5 * 217 });
    assert.equal(h.broker.stats().offlineDropped, 4);
    assert.ok(h.logger.lines.some((l) => l.startsWith('warn') && l.includes('client dash') && l.includes('max_queued_bytes')));
    const back = await session(t, h.port, 'dash');
    await receivesExactly(back, sensor, numbered(0, 5, 200));
    await drained(h);
  });

  test('QoS 2 to a client away: the bound holds and the count goes back to nothing once the client has the messages', async (t) => {
    const h = await broker(t, { limits: { max_queued_messages: 4 } });
    await leaveSubscribed(t, h.port, h.clients, 'dash', 2);
    const sensor = await h.connect();
    await publishAll(sensor, numbered(0, 10), 2);
    assert.equal(queued(h).sessionMessages, 4);
    assert.equal(h.broker.stats().offlineDropped, 6);
    const back = await session(t, h.port, 'dash');
    await receivesExactly(back, sensor, numbered(0, 4));
    await drained(h);
  });

  test('each client id away has a bound of its own', async (t) => {
    const h = await broker(t, { limits: { max_queued_messages: 3 } });
    await leaveSubscribed(t, h.port, h.clients, 'dash-a');
    const sensor = await h.connect();
    await publishAll(sensor, numbered(0, 2));
    await leaveSubscribed(t, h.port, h.clients, 'dash-b');
    await publishAll(sensor, numbered(2, 4));
    // dash-a: m0, m1, m2 (m3..m5 dropped); dash-b: m2, m3, m4 (m5 dropped).
    assert.equal(h.broker.stats().offlineDropped, 4);
    const a = await session(t, h.port, 'dash-a');
    await receivesExactly(a, sensor, numbered(0, 3));
    const b = await session(t, h.port, 'dash-b');
    await receivesExactly(b, sensor, numbered(2, 3));
  });

  test('a session taken over by a second connection with its client id is away once that one leaves', async (t) => {
    const h = await broker(t, { limits: { max_queued_messages: 5 } });
    const first = await session(t, h.port, 'dash');
    await first.client.subscribeAsync('sensors/#', { qos: 1 });
    const firstClosed = new Promise<void>((resolve) => first.client.once('close', () => resolve()));
    const second = await session(t, h.port, 'dash');
    await withTimeout(firstClosed, WAIT_MS, 'the first connection to be taken over');
    await away(second, h.clients);
    const sensor = await h.connect();
    await publishAll(sensor, numbered(0, 12));
    assert.equal(queued(h).sessionMessages, 5);
    assert.equal(h.broker.stats().offlineDropped, 7);
  });

  test('a clean-session reconnect forgets the queue and its count', async (t) => {
    const h = await broker(t, { limits: { max_queued_messages: 5 } });
    await leaveSubscribed(t, h.port, h.clients, 'dash');
    const sensor = await h.connect();
    await publishAll(sensor, numbered(0, 12));
    assert.equal(queued(h).sessionMessages, 5);

    const clean = await session(t, h.port, 'dash', true);
    assert.equal(clean.sessionPresent, false);
    await drained(h);
    await away(clean, h.clients);
    await publishAll(sensor, numbered(12, 3));
    assert.equal(queued(h).sessionMessages, 0, 'no session is left to queue for');

    // A new persistent session starts from nothing: it gets all of a burst under the bound.
    await leaveSubscribed(t, h.port, h.clients, 'dash');
    await publishAll(sensor, numbered(20, 5));
    assert.equal(h.broker.stats().offlineDropped, 7);
    const back = await session(t, h.port, 'dash');
    await receivesExactly(back, sensor, numbered(20, 5));
  });

  test('a connected persistent client is not bounded by it: what it has not acknowledged yet is not dropped', async (t) => {
    const h = await broker(t, { limits: { max_queued_messages: 5 } });
    const dash = await rawConnect(h.port, { clientId: 'dash', clean: false });
    t.after(() => dash.socket.destroy());
    await dash.next('connack');
    const suback = dash.next('suback');
    dash.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos: 1 }] });
    await suback;
    const published = Promise.all(numbered(0, 20).map(() => dash.next('publish')));
    const sensor = await h.connect();
    await publishAll(sensor, numbered(0, 20));
    // It reads all twenty and acknowledges none yet: four times the bound held for it.
    const packets = (await withTimeout(published, WAIT_MS, 'twenty messages')) as { messageId: number; payload: Buffer }[];
    assert.deepEqual(packets.map((p) => p.payload.toString()), numbered(0, 20));
    assert.equal(queued(h).sessionMessages, 20);
    assert.equal(h.broker.stats().offlineDropped, 0);
    for (const { messageId } of packets) dash.send({ cmd: 'puback', messageId });
    await drained(h);
    assert.equal(dash.socket.destroyed, false);
  });

  test('QoS 2 to a persistent session: each message released under its own id, however many are under way at once', async (t) => {
    const h = await broker(t, {});
    const dash = await rawConnect(h.port, { clientId: 'dash', clean: false });
    t.after(() => dash.socket.destroy());
    await dash.next('connack');
    const suback = dash.next('suback');
    dash.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'sensors/#', qos: 2 }] });
    await suback;
    const three = (cmd: 'publish' | 'pubrel') => Promise.all([dash.next(cmd), dash.next(cmd), dash.next(cmd)]);
    const published = three('publish');
    const sensor = await h.connect();
    await publishAll(sensor, numbered(0, 3), 2);
    const ids = (await withTimeout(published, WAIT_MS, 'three messages')).map((p) => (p as { messageId: number }).messageId);
    // The client has all three before it releases any: three PUBRECs, then three PUBRELs are owed.
    const released = three('pubrel');
    for (const messageId of ids) dash.send({ cmd: 'pubrec', messageId });
    const releasedIds = (await withTimeout(released, WAIT_MS, 'three PUBRELs')).map((p) => (p as { messageId: number }).messageId);
    assert.deepEqual(releasedIds, ids);
    for (const messageId of ids) dash.send({ cmd: 'pubcomp', messageId });
    await drained(h);
    // All three are complete: the session holds nothing to send again when the client returns.
    dash.socket.destroy();
    await until(async () => (h.clients() === 1 ? true : undefined), 'the broker to see dash leave');
    const back = await session(t, h.port, 'dash');
    await receivesExactly(back, sensor, []);
  });
});

test('the gateway counts what it dropped for a dashboard that went away in /metrics', async (t) => {
  const h = await startDaemon({ 'sops/note/SOP.toml': sopToml('note'), 'sops/note/SOP.md': ONE_STEP_MD }, '', { mqtt: 'max_queued_messages = 5' });
  t.after(async () => {
    await h.daemon.stop();
    await removeTree(h.root);
  });
  const port = h.listening.mqtt!.port;
  const base = `http://127.0.0.1:${h.listening.http.port}`;
  await leaveSubscribed(t, port, () => metric(base, 'sopgate_broker_clients'), 'dashboard');
  const sensor = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
  t.after(() => sensor.endAsync(true));
  await publishAll(sensor, numbered(0, 20));
  assert.equal(await metric(base, 'sopgate_broker_offline_dropped_total'), 15);
  assert.equal(await metric(base, 'sopgate_broker_session_messages'), 5);
  assert.ok(h.logs.some((l) => l.includes('client dashboard') && l.includes('max_queued_messages')));
});
