// The packaged daemon as a child process with a real mosquitto: killed with SIGKILL while
// the broker is away, it still holds every run event in its outbox after the restart and
// delivers them, each once, in order; killed while the broker is there, its will says it
// is offline.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Centre, metric, noMosquitto, runEvents, startMosquitto, type Received } from './helpers/mosquitto.js';
import { daemonConfig, packagedBundle, removePackagedBundle, spawnDaemon, until, type DaemonProcess, type Packaged } from './helpers/process.js';
import { makeTree, removeTree, sopToml, tempDir } from './helpers/workspace.js';

const skip = noMosquitto();
let pkg: Packaged;
const cleanups: (() => Promise<unknown>)[] = [];
before(async () => {
  if (skip === false) pkg = await packagedBundle();
});
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  await removePackagedBundle();
});

const ROOT = 'sopgate/fleet/line7/';
const LOG_MD = '# Log\n\n## Steps\n\n1. **Note** — Write a line.\n\n   ```log\n   message = "noted"\n   ```\n';

const events = (messages: Received[]) => runEvents(messages, ROOT);
const metricOf = (d: DaemonProcess, name: string) => metric(d.base, name);

async function execute(d: DaemonProcess): Promise<string> {
  const r = await d.api('POST', '/api/sops/tick/execute');
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.run_id as string;
}

describe('the packaged daemon and a broker that is away', { skip }, () => {
  test('SIGKILL while the broker is away: after the restart the outbox still holds and delivers everything', async () => {
    const brokerDir = await tempDir('sopgate-mosquitto-');
    const broker = await startMosquitto(brokerDir);
    cleanups.push(() => removeTree(brokerDir), () => broker.stop());
    const centre = await Centre.connect(broker.port, [`${ROOT}#`]);
    cleanups.push(() => centre.close());
    const upstream = `[upstream]\nurl = "mqtt://127.0.0.1:${broker.port}"\ngateway_id = "line7"\nprefix = "sopgate/fleet"\n`;
    const root = await makeTree({
      'sopgate.toml': daemonConfig(upstream),
      'sops/tick/SOP.toml': sopToml('tick', 'execution_mode = "auto"\nmax_concurrent = 10'),
      'sops/tick/SOP.md': LOG_MD,
    });
    cleanups.push(() => removeTree(root));
    const config = join(root, 'sopgate.toml');

    let d = await spawnDaemon(pkg.bundle, config);
    cleanups.push(() => d.kill());
    await centre.waitFor((m) => m.find((x) => x.topic === `${ROOT}status` && x.payload.includes('online')), 'the birth message');
    const before = [await execute(d), await execute(d)];
    await centre.waitFor((m) => (events(m).length === 4 ? true : undefined), 'the first events');
    await until(async () => ((await metricOf(d, 'sopgate_upstream_outbox_messages')) === 0 ? true : undefined), 'every event acknowledged');

    await broker.stop();
    await d.waitForLine(/^warn \[upstream\] connection to \S+ lost/);
    const during = [await execute(d), await execute(d), await execute(d)];
    await until(async () => ((await metricOf(d, 'sopgate_upstream_outbox_messages')) === 6 ? true : undefined), 'six events in the outbox');
    await d.kill();

    await broker.start();
    d = await spawnDaemon(pkg.bundle, config);
    await d.waitForLine(/^info \[upstream\] upstream \S+ as line7: 6 run event\(s\) in the outbox$/);
    const all = await centre.waitFor((m) => (events(m).length >= 10 ? events(m) : undefined), 'every event after the restart');
    assert.deepEqual(all, [...before, ...during].flatMap((id) => [`${id} started`, `${id} completed`]), 'each once, in order');
    await until(async () => ((await metricOf(d, 'sopgate_upstream_outbox_messages')) === 0 ? true : undefined), 'an empty outbox');
    assert.equal(await metricOf(d, 'sopgate_upstream_sent_total'), 6);

    // Killed while the broker is there: the broker tells the centre, with the will.
    const statuses = () => centre.messages.filter((m) => m.topic === `${ROOT}status`).map((m) => JSON.parse(m.payload).state as string);
    await centre.waitFor(() => (statuses().at(-1) === 'online' ? true : undefined), 'online again');
    await d.kill();
    await centre.waitFor(() => (statuses().at(-1) === 'offline' ? true : undefined), 'the will');
  });
});
