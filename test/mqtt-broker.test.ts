// The embedded broker with real mqtt.js clients over 127.0.0.1, port 0.
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { EmbeddedBroker } from '../src/sources/mqtt/broker.js';
import type { Run, RunEvent, StepHandoff } from '../src/core/run.js';
import { memoryLogger } from './helpers/logger.js';
import { hashPassword } from '../src/sources/mqtt/password.js';
import { nextMessage, startBroker, whenClosed } from './helpers/broker.js';

/** Commands need a user with gateway_access = "readwrite": anonymous clients only read. */
const OPERATOR = { username: 'operator', password_hash: hashPassword('operator-pw'), gateway_access: 'readwrite' as const };
const asOperator = { username: 'operator', password: 'operator-pw' };

const RUN: Run = {
  run_id: 'r-1',
  sop_name: 'fan',
  status: 'running',
  current_step: 1,
  total_steps: 2,
  trigger_event: { source: 'mqtt', topic: 'sensors/a/temp', payload: '{"value":90}', timestamp: '2025-01-02T03:04:05.000Z' },
  started_at: '2025-01-02T03:04:05.000Z',
  completed_at: null,
  waiting_since: null,
  step_results: [],
  reason: null,
};

describe('embedded broker: events', () => {
  test('a client publish becomes an mqtt event with the exact topic and payload', async (t) => {
    const h = await startBroker(t);
    const c = await h.connect();
    await c.publishAsync('sensors/site-1/temp', '{"value": 85.5, "unit": "°C"}');
    assert.deepEqual(await h.event('sensors/site-1/temp'), {
      source: 'mqtt',
      topic: 'sensors/site-1/temp',
      payload: '{"value": 85.5, "unit": "°C"}',
      timestamp: '2025-01-02T03:04:05.000Z',
    });
    await c.publishAsync('gpio/line', '1', { qos: 1 });
    assert.equal((await h.event('gpio/line')).payload, '1');
    assert.equal(h.broker.clients(), 1);
    assert.equal(h.broker.stats().eventsEmitted, 2);
  });

  test("the gateway's own topics and the broker's run events never become events", async (t) => {
    const h = await startBroker(t, { users: [OPERATOR] });
    const sub = await h.connect(asOperator);
    await sub.subscribeAsync('#');
    const pub = await h.connect(asOperator);
    const got = nextMessage(sub, 'sopgate/runs/r-1/started');
    h.broker.publishRunEvent({ kind: 'started', run: RUN });
    assert.deepEqual(JSON.parse(await got), RUN);
    await pub.publishAsync('sopgate/runs/r-1/result', '{"status":"completed","output":"ok"}');
    await h.until(() => h.results[0]);
    // The marker is sent after both gateway messages were handled: if either had become
    // an event, it would be in the list before the marker.
    await pub.publishAsync('sensors/marker', 'after');
    await h.event('sensors/marker');
    assert.deepEqual(h.events.map((e) => e.topic), ['sensors/marker']);
    assert.equal(h.broker.stats().messagesIn, 2);
  });

  test('a subscriber to <prefix>/runs/# gets run events as JSON; a step event carries the context', async (t) => {
    const h = await startBroker(t);
    const sub = await h.connect();
    const [granted] = await sub.subscribeAsync('sopgate/runs/#');
    assert.equal(granted?.qos, 0);
    const started = nextMessage(sub, 'sopgate/runs/r-1/started');
    h.broker.publishRunEvent({ kind: 'started', run: RUN });
    assert.deepEqual(JSON.parse(await started), RUN);

    const step = { sop_name: 'fan', run_id: 'r-1', step_number: 2, title: 'Check the fan', text: 'Step 2: Check the fan' } as StepHandoff;
    const stepMsg = nextMessage(sub, 'sopgate/runs/r-1/step');
    h.broker.publishRunEvent({ kind: 'step', run: RUN, step } satisfies RunEvent);
    assert.deepEqual(JSON.parse(await stepMsg), { run: RUN, step });
    // Packets went both ways (CONNACK, SUBACK, run events; the client shares mqtt-packet
    // with the broker in this process) without mqtt-packet's 65,536-Buffer number cache.
    const numbers = createRequire(import.meta.url)('mqtt-packet/numbers.js') as { cache: Record<number, Buffer> };
    assert.equal(Object.keys(numbers.cache).length, 0);
  });

  test('a result message calls onResult; malformed ones are logged and ignored', async (t) => {
    const h = await startBroker(t, { users: [OPERATOR] });
    const c = await h.connect({ ...asOperator, clientId: 'operator-1' });
    for (const bad of ['not json', '[1]', '{"status":"done"}', '{"status":"failed","output":7}', '']) {
      await c.publishAsync('sopgate/runs/r-9/result', bad);
    }
    await c.publishAsync('sopgate/runs/r-7/result', '{"status":"failed","output":"fan stuck"}');
    await c.publishAsync('sopgate/runs/r-8/result', '{"status":"skipped"}');
    await h.until(() => (h.results.length === 2 ? true : undefined));
    assert.deepEqual(h.results, [
      { runId: 'r-7', status: 'failed', output: 'fan stuck', clientId: 'operator-1' },
      { runId: 'r-8', status: 'skipped', output: '', clientId: 'operator-1' },
    ]);
    assert.equal(h.broker.stats().dropped, 5);
    assert.equal(h.logger.lines.filter((l) => l.includes('result from operator-1 for run r-9 ignored')).length, 5);
    assert.equal(c.connected, true);
  });

  test('a throwing onEvent is logged and counted; the broker carries on', async (t) => {
    const calls = new EventEmitter();
    const h = await startBroker(t, {
      onEvent: (e) => {
        calls.emit('call', e.topic);
        throw new Error('matcher broke');
      },
    });
    const c = await h.connect();
    for (const n of [1, 2]) {
      const called = once(calls, 'call');
      await c.publishAsync(`sensors/${n}`, 'x');
      assert.deepEqual(await called, [`sensors/${n}`]);
    }
    assert.equal(h.broker.stats().errors, 2);
    assert.ok(h.logger.lines.some((l) => l.includes('event listener failed for sensors/1: matcher broke')));
    assert.equal(c.connected, true);
  });
});

describe('embedded broker: limits and lifecycle', () => {
  test('a packet over max_packet_bytes closes that connection and is never an event', async (t) => {
    const h = await startBroker(t, { maxPacketBytes: 1024 });
    const other = await h.connect();
    const c = await h.connect();
    await c.publishAsync('sensors/small', 'x'.repeat(900));
    await h.event('sensors/small');
    const closed = whenClosed(c);
    c.publish('sensors/big', 'x'.repeat(2000));
    await closed;
    // Another client is unaffected, and its marker proves the big one never arrived.
    await other.publishAsync('sensors/marker', '1');
    await h.event('sensors/marker');
    assert.deepEqual(h.events.map((e) => e.topic), ['sensors/small', 'sensors/marker']);
    assert.equal(h.broker.stats().dropped, 1);
  });

  test('connections beyond max_connections are refused with "server unavailable"', async (t) => {
    const h = await startBroker(t, { maxConnections: 2 });
    const a = await h.connect();
    await h.connect();
    await assert.rejects(h.connect(), (err: Error & { code?: number }) => err.code === 3);
    assert.equal(h.broker.stats().refusedConnections, 1);
    await a.endAsync();
    // The slot frees when the server sees the close; each attempt is a real round trip.
    let third: MqttClient | null = null;
    for (let i = 0; i < 100 && third === null; i++) third = await h.connect().catch(() => null);
    assert.ok(third?.connected);
  });

  test('stop() closes every client and frees the port', async (t) => {
    const h = await startBroker(t);
    const a = await h.connect();
    const b = await h.connect();
    const closed = Promise.all([whenClosed(a), whenClosed(b)]);
    await h.broker.stop();
    await closed;
    assert.equal(h.broker.clients(), 0);
    const server = createServer();
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(h.port, '127.0.0.1', resolve));
    await new Promise((resolve) => server.close(resolve));
    await h.broker.stop(); // twice is fine
  });

  test('start() rejects when the port is taken', async (t) => {
    const h = await startBroker(t);
    const second = new EmbeddedBroker({
      listen: `127.0.0.1:${h.port}`, eventPrefix: 'sopgate', maxPacketBytes: 1024, maxConnections: 1, users: [],
      logger: memoryLogger(), onEvent: () => {}, onResult: () => {},
    });
    await assert.rejects(second.start(), /EADDRINUSE/);
  });
});
