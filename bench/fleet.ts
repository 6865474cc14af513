// A fleet on one machine: `npm run bench:fleet [-- --gateways N --rate R --seconds S --down D]`.
// Prints figures and checks that nothing is lost; asserts no timing.
//
// One mosquitto (the centre's broker) and N gateways, each the packaged daemon in its own
// process with its own workspace and embedded broker, bridged up through [upstream]. A
// sensor client per gateway publishes to its embedded broker; every message starts a run
// whose events go up through the outbox. The centre (one MQTT client, persistent session)
// counts them. Then mosquitto is stopped while the sensors go on, and started again; then
// the centre approves a run waiting on every gateway. The whole run is bounded by --timeout
// and everything it started is stopped and removed, whatever happens.
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { connectAsync, type MqttClient } from 'mqtt';
import { Centre, noMosquitto, startMosquitto, type Mosquitto, type Received } from '../test/helpers/mosquitto.js';
import { daemonConfig, packagedBundle, removePackagedBundle, spawnDaemon, type DaemonProcess } from '../test/helpers/process.js';
import { makeTree, removeTree, sopToml, tempDir } from '../test/helpers/workspace.js';

const { values } = parseArgs({
  options: {
    gateways: { type: 'string', default: '20' },
    rate: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '10' },
    down: { type: 'string', default: '3' },
    timeout: { type: 'string', default: '300' },
  },
});
const N = Number(values.gateways);
const RATE = Number(values.rate); // sensor messages per second per gateway
const SECONDS = Number(values.seconds);
const DOWN_SECONDS = Number(values.down);
const DEADLINE = Date.now() + Number(values.timeout) * 1000;
const PREFIX = 'sopgate/fleet';

const LOG_MD = '# Log\n\n## Steps\n\n1. **Note** — Write a line.\n\n   ```log\n   message = "noted"\n   ```\n';
const SOPS = {
  'sops/hot/SOP.toml': sopToml('hot', 'execution_mode = "auto"\nmax_concurrent = 100', '[[triggers]]\ntype = "mqtt"\ntopic = "sensors/+/temp"\ncondition = "$.t > 50"\n'),
  'sops/hot/SOP.md': LOG_MD,
  'sops/gate/SOP.toml': sopToml('gate', 'execution_mode = "supervised"'),
  'sops/gate/SOP.md': LOG_MD,
};

interface Gateway {
  id: string;
  root: string;
  daemon: DaemonProcess;
  sensor: MqttClient;
}

const left = () => Math.max(1, DEADLINE - Date.now());
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const RUN_EVENT = /^sopgate\/fleet\/([^/]+)\/runs\/([^/]+)\/(\w+)$/;

/**
 * The run events among the messages from index `from` on, as the gateways sent them: the
 * broker's redelivery (DUP) of a message the centre already had is left out.
 */
function runEvents(messages: Received[], from = 0): { gw: string; run: string; kind: string; payload: string; at: number }[] {
  const out = [];
  const had = new Set<string>();
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    const match = RUN_EVENT.exec(m.topic);
    if (match === null) continue;
    const key = `${m.topic}\u0000${m.payload}`;
    const again = m.dup && had.has(key);
    had.add(key);
    if (i >= from && !again) out.push({ gw: match[1]!, run: match[2]!, kind: match[3]!, payload: m.payload, at: m.at });
  }
  return out;
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** A metric of one gateway, its labelled samples summed. */
async function metric(d: DaemonProcess, name: string): Promise<number> {
  const text = (await d.api('GET', '/metrics')).body as string;
  const samples = text.split('\n').filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  if (samples.length === 0) throw new Error(`no metric ${name}`);
  return samples.reduce((n, l) => n + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
}

async function sum(gateways: Gateway[], name: string): Promise<number> {
  return (await Promise.all(gateways.map((g) => metric(g.daemon, name)))).reduce((a, b) => a + b, 0);
}

/** Polls until `check` holds (for the gateways' metrics, which send no event). */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  while (!(await check())) {
    if (Date.now() > DEADLINE) throw new Error(`out of time waiting for ${what}`);
    await sleep(100);
  }
}

/** Each gateway's sensor publishes `perGateway` messages at RATE a second; returns when all are sent. */
async function drive(gateways: Gateway[], perGateway: number, seq: { n: number }): Promise<void> {
  const interval = 1000 / RATE;
  const start = performance.now();
  for (let k = 0; k < perGateway; k++) {
    const due = start + k * interval - performance.now();
    if (due > 0) await sleep(due);
    for (const g of gateways) {
      g.sensor.publish(`sensors/${g.id}/temp`, JSON.stringify({ t: 70, seq: seq.n++, sent: Date.now() }));
    }
  }
}

async function main(): Promise<void> {
  const why = noMosquitto();
  if (why !== false) throw new Error(why);
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    const pkg = await packagedBundle();
    cleanups.push(() => removePackagedBundle());
    const brokerDir = await tempDir('sopgate-fleet-mosquitto-');
    cleanups.push(() => removeTree(brokerDir));
    const broker: Mosquitto = await startMosquitto(brokerDir, { global: ['allow_anonymous true', 'max_queued_messages 100000'] });
    cleanups.push(() => broker.stop());
    const centre = await Centre.connect(broker.port, [`${PREFIX}/+/#`]);
    cleanups.push(() => centre.close());

    // --- N gateways, in parallel ---
    let t = performance.now();
    const gateways = await Promise.all(
      Array.from({ length: N }, async (_, i): Promise<Gateway> => {
        const id = `gw${String(i + 1).padStart(2, '0')}`;
        const upstream = `[upstream]\nurl = "mqtt://127.0.0.1:${broker.port}"\ngateway_id = "${id}"\nprefix = "${PREFIX}"\n`;
        const root = await makeTree({ 'sopgate.toml': daemonConfig(upstream), ...SOPS });
        cleanups.push(() => removeTree(root));
        const daemon = await spawnDaemon(pkg.bundle, join(root, 'sopgate.toml'), { readyMs: left() });
        cleanups.push(() => daemon.kill());
        const sensor = await connectAsync(`mqtt://127.0.0.1:${daemon.mqtt}`);
        cleanups.push(() => sensor.endAsync(true));
        return { id, root, daemon, sensor };
      }),
    );
    const online = (from: number) => {
      const seen = new Set<string>();
      for (const m of centre.messages.slice(from)) if (m.topic.endsWith('/status') && m.payload.includes('"online"')) seen.add(m.topic.split('/')[2]!);
      return seen.size;
    };
    await centre.waitFor(() => (online(0) === N ? true : undefined), 'every gateway online', left());
    console.log(`fleet: ${N} gateways (packaged daemon, own workspace and embedded broker) and mosquitto up in ${((performance.now() - t) / 1000).toFixed(1)} s`);

    // --- steady flow ---
    const seq = { n: 0 };
    const perGateway = RATE * SECONDS;
    const runs = N * perGateway;
    const from = centre.messages.length;
    t = performance.now();
    await drive(gateways, perGateway, seq);
    await centre.waitFor((m) => (runEvents(m, from).length >= 2 * runs ? true : undefined), `${2 * runs} run events`, left());
    const steadySecs = (performance.now() - t) / 1000;
    const events = runEvents(centre.messages, from);
    // Sensor publish → the centre has the run's `completed` (one clock: both ends are this process).
    const latencies = events
      .filter((e) => e.kind === 'completed')
      .map((e) => {
        const run = JSON.parse(e.payload) as { trigger_event: { payload: string } };
        return e.at - (JSON.parse(run.trigger_event.payload) as { sent: number }).sent;
      })
      .sort((a, b) => a - b);
    const started = await sum(gateways, 'sopgate_runs_started_total');
    console.log(`steady: ${runs} sensor messages (${RATE}/s on each of ${N} gateways for ${SECONDS} s), ${started} runs started, ` +
      `${events.length} run events seen centrally in ${steadySecs.toFixed(1)} s = ${(events.length / steadySecs).toFixed(0)} events/s ` +
      `(expected ${2 * started}: ${events.length === 2 * started ? 'nothing lost' : 'MISMATCH'})`);
    console.log(`latency: sensor publish → central completed: p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms, ` +
      `max ${latencies.at(-1)} ms over ${latencies.length} runs`);

    // --- mosquitto away and back ---
    await until(async () => (await sum(gateways, 'sopgate_upstream_outbox_messages')) === 0, 'empty outboxes');
    await broker.stop();
    const downAt = performance.now();
    const downRuns = N * RATE * DOWN_SECONDS;
    await drive(gateways, RATE * DOWN_SECONDS, seq);
    await until(async () => (await sum(gateways, 'sopgate_runs_started_total')) === started + downRuns, 'the runs made while mosquitto is away');
    await until(async () => (await sum(gateways, 'sopgate_runs_active')) === 0, 'the runs to finish');
    const madeWhileDown = await sum(gateways, 'sopgate_upstream_outbox_messages');
    const restartFrom = centre.messages.length;
    await broker.start();
    const restartedAt = performance.now();
    await centre.waitFor(() => (online(restartFrom) === N ? true : undefined), 'every gateway online again', left());
    const onlineSecs = (performance.now() - restartedAt) / 1000;
    await centre.waitFor((m) => (runEvents(m, restartFrom).length >= madeWhileDown ? true : undefined), 'the events made while mosquitto was away', left());
    const deliveredAfter = runEvents(centre.messages, restartFrom).length;
    console.log(`restart: mosquitto away ${((restartedAt - downAt) / 1000).toFixed(1)} s while ${downRuns} runs ran; every gateway online again ` +
      `${onlineSecs.toFixed(1)} s after it was back (reconnect back-off 1-30 s); run events delivered after the restart ${deliveredAfter} ` +
      `against ${madeWhileDown} made while it was away (${deliveredAfter === madeWhileDown ? 'equal' : 'MISMATCH'})`);

    // --- approvals from the centre ---
    t = performance.now();
    const gated = await Promise.all(gateways.map(async (g) => ({ g, run: (await g.daemon.api('POST', '/api/sops/gate/execute')).body.run_id as string })));
    const waitingFrom = centre.messages.length;
    await centre.waitFor(
      (m) => (runEvents(m, restartFrom).filter((e) => e.kind === 'waiting_approval').length >= N ? true : undefined),
      'a run waiting on every gateway',
      left(),
    );
    await Promise.all(gated.map(({ g, run }) => centre.publish(`${PREFIX}/${g.id}/runs/${run}/approve`, '')));
    const ids = new Set(gated.map((x) => x.run));
    await centre.waitFor((m) => (runEvents(m, waitingFrom).filter((e) => e.kind === 'completed' && ids.has(e.run)).length === N ? true : undefined), 'every approved run completed', left());
    console.log(`approvals: ${N} runs waiting (one per gateway) approved from the centre, all ${N} completed, in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(`bench:fleet failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
