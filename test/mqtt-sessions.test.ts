// Persistent sessions (clean session 0): QoS 2 messages to a client each complete once.
import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { startBroker } from './helpers/broker.js';
import { rawConnect } from './helpers/mqtt-raw.js';
import { until, withTimeout } from './helpers/process.js';

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
async function broker(t: TestContext, deps: Parameters<typeof startBroker>[1] = {}) {
  const h = await startBroker(t, deps);
  return { ...h, clients: () => h.broker.clients() };
}

describe('persistent sessions', () => {
  test('QoS 2 to a persistent session: each message released under its own id, however many are under way at once', async (t) => {
    const h = await broker(t);
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
    // All three are complete: the session holds nothing to send again when the client returns.
    dash.socket.destroy();
    await until(async () => (h.clients() === 1 ? true : undefined), 'the broker to see dash leave');
    const back = await session(t, h.port, 'dash');
    await receivesExactly(back, sensor, []);
  });
});
