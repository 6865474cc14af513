// A flood of messages: while the engine's writes are behind (its fdatasyncs held here), the
// broker stops reading the publisher's socket, so the flood waits in the sender and the
// kernel, not in the gateway's memory; other clients are still heard, and once the disk
// answers again every message is read and every run persisted.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import mqtt from 'mqtt';
import { fullDisk, harness, heldSyncStore, manual, sop } from './helpers/engine.js';
import { startDaemon } from './helpers/daemon.js';
import { until } from './helpers/process.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'sopgate-flood-'));
  dirs.push(d);
  return d;
}

/** The engine's bound (commit-queue.ts): at this many changes not yet durable its backlog is full. */
const HIGH = 512;

describe("the engine's write backlog", () => {
  test('full at its bound: callers wait until the disk has caught up, then go on in order', async () => {
    const d = await tempDir();
    const s = heldSyncStore(join(d, 'sopgate.db'));
    const h = harness(d, [sop('alert', { maxConcurrent: 10_000 })], { store: s.store, maxConcurrentTotal: 10_000 });
    try {
      const order: string[] = [];
      h.engine.whenCaughtUp(() => order.push('before'));
      assert.deepEqual(order, ['before'], 'nothing waits for the disk: at once');
      const starts = Array.from({ length: HIGH }, () => h.engine.startRun('alert', manual()));
      assert.deepEqual(h.engine.stats().backlog, { size: HIGH, fills: 1 });
      h.engine.whenCaughtUp(() => order.push('first'));
      h.engine.whenCaughtUp(() => order.push('second'));
      h.engine.flush();
      await s.syncing();
      assert.deepEqual(order, ['before'], 'written, not yet durable: still waiting');
      s.release();
      await Promise.all(starts);
      assert.deepEqual(order, ['before', 'first', 'second']);
      assert.deepEqual(h.engine.stats().backlog, { size: 0, fills: 1 });
    } finally {
      h.close();
    }
  });

  test('a write the database refuses releases those who wait too', async () => {
    const d = await tempDir();
    const h = harness(d, [sop('alert', { maxConcurrent: 10_000 })], { maxConcurrentTotal: 10_000 });
    const disk = fullDisk(h.store);
    try {
      disk.fill();
      const starts = Array.from({ length: HIGH }, () => h.engine.startRun('alert', manual()));
      let released = false;
      h.engine.whenCaughtUp(() => {
        released = true;
      });
      assert.equal(released, false);
      h.engine.flush();
      const results = await Promise.all(starts);
      assert.ok(results.every((r) => !r.ok && r.reason === 'storage_unavailable'));
      assert.equal(released, true, 'nothing waits for the disk any more: the broker must not stay deaf');
      assert.equal(h.engine.stats().backlog.size, 0);
    } finally {
      disk.free();
      h.close();
    }
  });
});

describe('a flood of MQTT messages while the disk is slow', () => {
  const ALERT_TOML = '[sop]\nname = "alert"\ndescription = "Alert"\nexecution_mode = "auto"\nmax_concurrent = 100000\n\n[[triggers]]\ntype = "mqtt"\ntopic = "sensors/+/temp"\n';
  const ALERT_MD = '# Alert\n\n## Steps\n\n1. **Note** — Keep the reading.\n\n   ```log\n   message = "alert {{payload}}"\n   ```\n';
  const FLOOD = 5_000;
  const PAD = 'x'.repeat(200);

  test("the publisher's socket is not read until the engine catches up; other clients are heard; nothing is lost", { timeout: 60_000 }, async () => {
    let held: ReturnType<typeof heldSyncStore> | undefined;
    const h = await startDaemon(
      { 'sops/alert/SOP.toml': ALERT_TOML, 'sops/alert/SOP.md': ALERT_MD },
      '[engine]\nmax_concurrent_total = 100000\nmax_finished_runs = 100000',
      { openStore: (file) => (held = heldSyncStore(file)).store },
    );
    const url = `mqtt://127.0.0.1:${h.listening.mqtt!.port}`;
    const flooder = await mqtt.connectAsync(url, { clientId: 'flooder', reconnectPeriod: 0 });
    const quiet = await mqtt.connectAsync(url, { clientId: 'quiet', reconnectPeriod: 0 });
    const metric = async (name: string) => {
      const text = await (await fetch(`http://127.0.0.1:${h.listening.http.port}/metrics`)).text();
      return Number(new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1]);
    };
    try {
      // Every flood message matches `alert`; the quiet client's message matches nothing. Sensor
      // sized: a read of the socket then holds a few hundred messages, and what one read brings
      // past the bound stays below the commit queue's own limit (MAX_UNSYNCED), where it would
      // sync on the event loop and the held fdatasyncs with it.
      for (let i = 0; i < FLOOD; i++) flooder.publish('sensors/a/temp', `${i} ${PAD}`);
      await until(async () => ((await metric('sopgate_store_backlog_full_total')) >= 1 ? true : undefined), 'the backlog to fill');
      await quiet.publishAsync('doors/front', 'open');
      const heard = await until(async () => {
        const unmatched = (await metric('sopgate_events_total{source="mqtt"}')) - (await metric('sopgate_matches_total'));
        return unmatched === 1 ? true : undefined;
      }, "the quiet client's message as an event");
      assert.ok(heard);
      // Read while the backlog filled: up to the bound, and the rest of the last read.
      const flooded = await metric('sopgate_matches_total');
      assert.ok(flooded >= HIGH && flooded < 2 * HIGH, `${flooded} of ${FLOOD} flood messages read while the engine is behind`);
      assert.equal(await metric('sopgate_runs_started_total'), 0, 'nothing is durable yet, so no run has started');

      held!.open();
      const finished = 'sopgate_runs_finished_total{status="completed"}';
      await until(async () => ((await metric(finished)) === FLOOD ? true : undefined), 'every flood message to finish its run', 30_000);
      assert.equal(await metric('sopgate_events_total{source="mqtt"}'), FLOOD + 1, 'every message read once');
      assert.equal(await metric('sopgate_matches_total'), FLOOD);
      assert.equal((await h.api('GET', '/api/runs?sop=alert&limit=1')).body[0].trigger_event.payload, `${FLOOD - 1} ${PAD}`, 'the last one too');
    } finally {
      held?.open();
      await Promise.all([flooder.endAsync(true), quiet.endAsync(true)]);
      await h.daemon.stop();
      await rm(h.root, { recursive: true, force: true });
    }
  });
});
