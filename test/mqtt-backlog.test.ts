// A subscriber that stops reading: what waits to be written to it is bounded, and it never
// delays the other clients, the gateway's own messages or the events it hands on.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Run } from '../src/core/run.js';
import { startBroker, whenClosed } from './helpers/broker.js';
import { stuckSubscriber } from './helpers/mqtt-raw.js';
import { withTimeout } from './helpers/process.js';

const WAIT_MS = 15_000;
/** 1,200 messages of 32 KiB: more than the socket buffers of both ends hold on loopback. */
const NOISE = { count: 1200, payload: 'x'.repeat(32 * 1024) };
const LIMITS = { max_queued_messages: 100, max_queued_bytes: 256 * 1024 };

const ROUND = 50;
const ROUNDS = 400;
const RUN = { run_id: 'r-1', sop_name: 'fan', status: 'completed', step_results: [] } as unknown as Run;

describe('a subscriber that stops reading', () => {
  test('QoS 0 messages to it are dropped past the bound; other sensors still become events', { timeout: 60_000 }, async (t) => {
    const h = await startBroker(t, { maxPacketBytes: 64 * 1024, limits: LIMITS });
    const stuck = await stuckSubscriber(h.port, '#');
    const noisy = await h.connect();
    for (let i = 0; i < NOISE.count; i++) noisy.publish('noise/a', NOISE.payload);
    await withTimeout(h.until(() => (h.events.length >= NOISE.count ? true : undefined)), WAIT_MS, 'every noise message as an event');

    const sensor = await h.connect();
    await sensor.publishAsync('sensors/door', 'open');
    await withTimeout(h.event('sensors/door'), WAIT_MS, "another sensor's message as an event");
    const s = h.broker.stats();
    assert.ok(s.queueDropped > NOISE.count / 2, `dropped ${s.queueDropped} of ${NOISE.count}`);
    assert.equal(s.queueDisconnects, 0, 'QoS 0 only: the client stays connected');
    assert.equal(stuck.socket.destroyed, false);
    assert.ok(h.logger.lines.some((l) => l.startsWith('warn') && l.includes('QoS 0 messages to it are dropped')));
  });

  test('a QoS 1 subscriber whose backlog passes the bound is disconnected', { timeout: 60_000 }, async (t) => {
    const h = await startBroker(t, { maxPacketBytes: 64 * 1024, limits: LIMITS });
    const stuck = await stuckSubscriber(h.port, 'noise/#', 1);
    const noisy = await h.connect();
    for (let i = 0; i < NOISE.count; i++) noisy.publish('noise/a', NOISE.payload, { qos: 1 });
    await withTimeout(h.until(() => (h.events.length >= NOISE.count ? true : undefined)), WAIT_MS, 'every noise message as an event');
    assert.equal(h.broker.stats().queueDisconnects, 1);
    // A paused socket does not see its end: reading again, it drains what came, then the close.
    stuck.socket.resume();
    await withTimeout(stuck.closed, WAIT_MS, 'the stuck QoS 1 subscriber to be disconnected');
    assert.ok(h.logger.lines.some((l) => l.startsWith('warn') && l.includes('disconnected: ') && l.includes('max_queued')));
  });

  test("the gateway's run events reach a client that reads, and the broker carries on when the stuck one leaves", { timeout: 60_000 }, async (t) => {
    const h = await startBroker(t, { limits: LIMITS });
    const stuck = await stuckSubscriber(h.port, 'sopgate/runs/#');
    const watcher = await h.connect();
    await watcher.subscribeAsync('sopgate/runs/+/completed');
    let seen = 0;
    let round: (() => void) | null = null;
    watcher.on('message', () => {
      if (++seen % ROUND === 0) round?.();
    });
    // 20,000 run events of 2 KiB in rounds of 50 (under the bound), each once the watcher has the last.
    const run = { ...RUN, trigger_event: { payload: 'x'.repeat(2048) } } as unknown as Run;
    for (let r = 0; r < ROUNDS; r++) {
      const delivered = new Promise<void>((resolve) => (round = resolve));
      for (let i = 0; i < ROUND; i++) h.broker.publishRunEvent({ kind: 'completed', run: { ...run, run_id: `r-${r}-${i}` } });
      await withTimeout(delivered, WAIT_MS, `round ${r} of run events at the client that reads`);
    }
    assert.equal(seen, ROUNDS * ROUND, 'the client that reads got every run event');
    assert.ok(h.broker.stats().queueDropped > 0, 'the stuck one did not');

    stuck.socket.destroy();
    await stuck.closed;
    const sensor = await h.connect();
    await sensor.publishAsync('sensors/after', '1');
    await withTimeout(h.event('sensors/after'), WAIT_MS, 'an event after the stuck client left');
    const closed = whenClosed(sensor);
    await h.broker.stop();
    await closed;
  });
});
