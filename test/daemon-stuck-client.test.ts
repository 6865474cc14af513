// The gateway with a run-event subscriber that stops reading: runs go on, the daemon
// keeps answering, and it is still up after the stuck client leaves.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import mqtt from 'mqtt';
import { startDaemon, TOKEN, type DaemonHarness } from './helpers/daemon.js';
import { stuckSubscriber } from './helpers/mqtt-raw.js';
import { until, withTimeout } from './helpers/process.js';
import { removeTree } from './helpers/workspace.js';

const LOG_TOML = `[sop]
name = "note"
description = "Log the payload's size"
execution_mode = "auto"
max_concurrent = 64

[[triggers]]
type = "manual"
`;
const LOG_MD = '# Note\n\n## Steps\n\n1. **Note it**\n\n   ```log\n   message = "noted"\n   ```\n';
/** Runs whose run events (the 16 KiB payload is in each) overflow the stuck socket many times over. */
const RUNS = 3000;
const PARALLEL = 16;

let h: DaemonHarness;
before(async () => {
  h = await startDaemon(
    { 'sops/note/SOP.toml': LOG_TOML, 'sops/note/SOP.md': LOG_MD },
    '[engine]\nmax_concurrent_total = 64\n[store]\nsynchronous = "normal"\n',
    { http: 'rate_limit_per_minute = 0' },
  );
});
after(async () => {
  await h.daemon.stop();
  await removeTree(h.root);
});

test('a run-event subscriber that stops reading delays no run, and its leaving does not take the daemon down', { timeout: 120_000 }, async (t) => {
  // In-process, node:test catches what would end a real daemon: watch for it.
  const crashes: Error[] = [];
  const onCrash = (err: Error) => crashes.push(err);
  process.on('uncaughtExceptionMonitor', onCrash);
  t.after(() => process.off('uncaughtExceptionMonitor', onCrash));
  const stuck = await stuckSubscriber(h.listening.mqtt!.port, 'sopgate/runs/#');
  const payload = JSON.stringify({ blob: 'x'.repeat(16 * 1024) });
  let next = 0;
  const statuses = new Map<number, number>();
  const worker = async () => {
    while (next < RUNS) {
      next++;
      const { status } = await h.api('POST', '/api/sops/note/execute', payload);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
  assert.deepEqual([...statuses], [[201, RUNS]]);

  const base = `http://127.0.0.1:${h.listening.http.port}`;
  const metric = async (name: string) => {
    const text = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    return Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
  };
  assert.ok((await metric('sopgate_broker_queue_dropped_total')) > 0, 'run events were dropped for the stuck client');

  stuck.socket.destroy();
  await stuck.closed;
  // The broker has seen it leave (there is no event to await from here): what its leaving
  // sets off runs right after.
  await until(async () => ((await metric('sopgate_broker_clients')) === 0 ? true : undefined), 'the broker to see the stuck client leave');
  const health = await fetch(`${base}/healthz`);
  assert.equal(health.status, 200);

  // And the broker still delivers: a new subscriber gets the next run's events.
  const watcher = await mqtt.connectAsync(`mqtt://127.0.0.1:${h.listening.mqtt!.port}`, { reconnectPeriod: 0 });
  try {
    await watcher.subscribeAsync('sopgate/runs/+/completed');
    const completed = new Promise<string>((resolve) => watcher.once('message', (topic) => resolve(topic)));
    const run = await h.api('POST', '/api/sops/note/execute', '{}');
    assert.equal(run.status, 201);
    assert.equal(await withTimeout(completed, 10_000, 'the completed event of a run after the stuck client left'), `sopgate/runs/${run.body.run_id}/completed`);
  } finally {
    await watcher.endAsync();
  }
  assert.deepEqual(crashes.map((e) => e.message), [], 'nothing would have ended the process');
});
