// Ceilings on what the broker keeps: retained messages (count and bytes) and the QoS 2
// messages one client sent without releasing them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import type { Run, StepHandoff } from '../src/core/run.js';
import { startBroker } from './helpers/broker.js';
import { rawConnect } from './helpers/mqtt-raw.js';
import { withTimeout } from './helpers/process.js';

/** The retained messages a new subscription to `filter` brings, as topic → payload. */
async function retainedOf(connect: () => Promise<MqttClient>, filter: string, expected: number): Promise<Record<string, string>> {
  const c = await connect();
  const got: Record<string, string> = {};
  const all = new Promise<void>((resolve) => {
    c.on('message', (topic, payload, packet) => {
      if (packet.retain) got[topic] = payload.toString();
      if (Object.keys(got).length === expected) resolve();
    });
  });
  await c.subscribeAsync(filter);
  if (expected > 0) await withTimeout(all, 5000, `${expected} retained messages`);
  // A marker published after the subscription: any further retained message came before it.
  const marker = new Promise<void>((resolve) => c.on('message', (topic) => topic === 'marker/done' && resolve()));
  await c.subscribeAsync('marker/done');
  await c.publishAsync('marker/done', 'x');
  await marker;
  await c.endAsync();
  return got;
}

describe('retained messages', () => {
  test('past max_retained_messages a new topic is delivered but not retained', async (t) => {
    const h = await startBroker(t, { limits: { max_retained_messages: 3, max_retained_bytes: 10_000 } });
    const live = await h.connect();
    await live.subscribeAsync('state/#');
    const seen: string[] = [];
    live.on('message', (topic) => seen.push(topic));
    const pub = await h.connect();
    for (const n of [1, 2, 3, 4]) await pub.publishAsync(`state/${n}`, `v${n}`, { retain: true });
    await h.event('state/4');
    assert.deepEqual(await retainedOf(h.connect, 'state/#', 3), { 'state/1': 'v1', 'state/2': 'v2', 'state/3': 'v3' });
    assert.ok(seen.includes('state/4'), 'the refused one still reached the live subscriber');
    // Replacing a retained topic, or deleting one, is always possible.
    await pub.publishAsync('state/1', 'v1b', { retain: true });
    await pub.publishAsync('state/2', '', { retain: true });
    await pub.publishAsync('state/4', 'v4', { retain: true });
    await pub.publishAsync('sync/2', '1');
    await h.event('sync/2');
    assert.deepEqual(await retainedOf(h.connect, 'state/#', 3), { 'state/1': 'v1b', 'state/3': 'v3', 'state/4': 'v4' });
    const s = h.broker.stats();
    assert.equal(s.retainedRefused, 1);
    assert.equal(s.retainedMessages, 3);
    assert.ok(h.logger.lines.some((l) => l.startsWith('warn') && l.includes('message on state/4 not retained')));
  });

  test('past max_retained_bytes a replacement takes the old message with it; step contexts are exempt', async (t) => {
    const h = await startBroker(t, { limits: { max_retained_messages: 100, max_retained_bytes: 2000 } });
    const pub = await h.connect();
    await pub.publishAsync('big/a', 'a'.repeat(900), { retain: true });
    await pub.publishAsync('big/b', 'b'.repeat(900), { retain: true });
    await pub.publishAsync('big/b', 'B'.repeat(1500), { retain: true });
    await pub.publishAsync('big/c', 'c'.repeat(900), { retain: true });
    await pub.publishAsync('big/done', '1');
    await h.event('big/done');
    // big/b's 1,500 bytes did not fit beside big/a: no stale 900-byte big/b is left either.
    assert.deepEqual(Object.keys(await retainedOf(h.connect, 'big/#', 2)).sort(), ['big/a', 'big/c']);
    assert.equal(h.broker.stats().retainedRefused, 1);
    assert.equal(h.broker.stats().retainedBytes, 2 * (5 + 900));

    const step = { run_id: 'r-1', step_number: 1, title: 'Look' } as StepHandoff;
    h.broker.publishRunEvent({ kind: 'step', run: { run_id: 'r-1' } as Run, step });
    assert.deepEqual(Object.keys(await retainedOf(h.connect, 'sopgate/runs/+/step', 1)), ['sopgate/runs/r-1/step']);
  });
});

describe('unreleased QoS 2 messages', () => {
  test('a client holding more than max_inflight_bytes without PUBREL is disconnected; releasing frees room', async (t) => {
    const h = await startBroker(t, { maxPacketBytes: 64 * 1024, limits: { max_inflight_bytes: 100 * 1024 } });
    const payload = Buffer.alloc(30 * 1024, 0x61);
    const fair = await rawConnect(h.port, { clientId: 'fair' });
    await fair.next('connack');
    for (let round = 0; round < 3; round++) {
      for (let i = 1; i <= 3; i++) {
        const pubrec = fair.next('pubrec');
        fair.send({ cmd: 'publish', topic: 'q2/fair', payload, qos: 2, messageId: i, retain: false, dup: false });
        await pubrec;
      }
      for (let i = 1; i <= 3; i++) {
        const pubcomp = fair.next('pubcomp');
        fair.send({ cmd: 'pubrel', messageId: i });
        await pubcomp;
      }
    }
    assert.equal(fair.socket.destroyed, false, 'nine messages, never more than three held at once');

    const greedy = await rawConnect(h.port, { clientId: 'greedy' });
    await greedy.next('connack');
    for (let i = 1; i <= 4; i++) greedy.send({ cmd: 'publish', topic: 'q2/greedy', payload, qos: 2, messageId: i, retain: false, dup: false });
    await withTimeout(greedy.closed, 5000, 'the client holding too much to be disconnected');
    assert.equal(h.broker.stats().inflightDisconnects, 1);
    assert.ok(h.logger.lines.some((l) => l.startsWith('warn') && l.includes('client greedy disconnected') && l.includes('max_inflight_bytes')));
    fair.socket.destroy();
  });
});
