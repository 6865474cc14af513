// Soak: mixed load with a SIGKILL at a random moment, then a restart, over and over.
// `npm run soak [-- --cycles N --seed S]`. Prints what it saw and exits 1 if a promise broke:
//   - every acknowledged run (a 201 from execute, a 202's `runs` from a webhook, a `started`
//     event on MQTT) is there after the restart;
//   - once the load stops and the waiting runs are approved or advanced, every run finishes
//     (none is stuck in a state it cannot leave);
//   - a built-in step ran more than once only where the ledger says `resumed`;
//   - `PRAGMA integrity_check` says ok.
// Each cycle drives MQTT sensors, webhooks, manual executes, approvals and external results
// at once for a random time, then kills the daemon with SIGKILL while all of that goes on.
import { appendFileSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { connectAsync, type MqttClient } from 'mqtt';
import { daemonConfig, packagedBundle, removePackagedBundle, spawnDaemon, withTimeout, type DaemonProcess } from '../test/helpers/process.js';
import { externalStep, logStep, shellStep, sopToml, stepsMd, trigger } from '../test/helpers/fixtures.js';
import { makeTree, removeTree } from '../test/helpers/workspace.js';
import { prng } from './prng.js';

const args = parseArgs({ options: { cycles: { type: 'string', default: '20' }, seed: { type: 'string' } } }).values;
const CYCLES = Number(args.cycles);
const SEED = args.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(args.seed);
if (!Number.isInteger(CYCLES) || CYCLES < 1) throw new Error('--cycles must be a whole number ≥ 1');

const random = prng(SEED); // the same seed gives the same kill moments and load mix

// Every built-in shell step appends "<run id> <step>" to steps.log before it ends: a step
// that ran twice shows twice.
const record = (n: number) => `echo "$SOP_RUN_ID ${n}" >> "$SOAK_LOG"`;
const shell = (n: number) => shellStep(n, record(n));
const slowShell = (n: number) => shellStep(n, `sleep 0.05\n${record(n)}`);
const log = (n: number) => logStep(n, `step ${n} of {{run.id}}`);
const external = (n: number) => externalStep(n, `Step ${n}`, 'Someone reports the result.');
const sop = (name: string, mode: string, lines: string) => sopToml(name, `execution_mode = "${mode}"\nmax_concurrent = 1000`, trigger(lines));
const steps = stepsMd;

const FILES = {
  'sops/sensor/SOP.toml': sop('sensor', 'auto', 'type = "mqtt"\ntopic = "soak/sensor/+"\ncondition = "$.v > 50"'),
  'sops/sensor/SOP.md': steps(shell(1), log(2)),
  'sops/hook/SOP.toml': sop('hook', 'auto', 'type = "webhook"\npath = "/sop/soak"'),
  'sops/hook/SOP.md': steps(slowShell(1), shell(2)),
  'sops/manual/SOP.toml': sop('manual', 'auto', 'type = "manual"'),
  'sops/manual/SOP.md': steps(slowShell(1), log(2), shell(3)),
  'sops/gated/SOP.toml': sop('gated', 'supervised', 'type = "manual"'),
  'sops/gated/SOP.md': steps(shell(1), external(2), shell(3)),
};
const CONFIG = daemonConfig('[engine]\nmax_concurrent_total = 5000\nmax_finished_runs = 1000000\napproval_timeout_secs = 0', 'rate_limit_per_minute = 0');

interface Tally {
  acknowledged: Set<string>;
  sensors: number;
  webhooks: number;
  executes: number;
  approvals: number;
  advances: number;
  errors: number;
}

/** Drives every kind of load at once until `stop` says so; requests that fail (the kill) are counted, not thrown. */
async function load(d: DaemonProcess, tally: Tally, stop: () => boolean): Promise<void> {
  const failed = () => {
    tally.errors++;
  };
  let client: MqttClient | null = null;
  try {
    client = await connectAsync(`mqtt://127.0.0.1:${d.mqtt}`, { reconnectPeriod: 0, connectTimeout: 2_000 });
    client.on('error', failed);
    client.on('message', (topic) => {
      const id = topic.split('/')[2];
      if (id !== undefined) tally.acknowledged.add(id);
    });
    await client.subscribeAsync('sopgate/runs/+/started', { qos: 1 });
  } catch {
    failed();
  }
  const sensors = async (sensor: number) => {
    for (let i = sensor; !stop() && client !== null; i++) {
      // A QoS 1 publish in flight when the connection drops never settles: give up on it.
      const sent = client.publishAsync(`soak/sensor/${i % 7}`, JSON.stringify({ v: Math.floor(random() * 100) }), { qos: 1 });
      await withTimeout(sent, 2_000, 'a PUBACK').then(() => tally.sensors++, failed);
      await sleep(2);
    }
  };
  const webhooks = async () => {
    while (!stop()) {
      await d.api('POST', '/sop/soak', String(random())).then((r) => {
        tally.webhooks++;
        if (r.status === 202) for (const run of r.body.runs as { run_id: string }[]) tally.acknowledged.add(run.run_id);
      }, failed);
    }
  };
  const executes = async () => {
    while (!stop()) {
      const name = random() < 0.5 ? 'manual' : 'gated';
      await d.api('POST', `/api/sops/${name}/execute`, 'soak').then((r) => {
        tally.executes++;
        if (r.status === 201) tally.acknowledged.add(r.body.run_id as string);
      }, failed);
    }
  };
  const operators = async () => {
    while (!stop()) {
      await settleWaiting(d, tally).catch(failed);
      await sleep(20);
    }
  };
  await Promise.all([sensors(0), sensors(1), sensors(2), sensors(3), webhooks(), webhooks(), executes(), executes(), operators()]);
  client?.end(true);
}

/** Approves every run waiting for approval and reports a result for every external step. */
async function settleWaiting(d: DaemonProcess, tally: Tally): Promise<number> {
  let acted = 0;
  const waiting = await d.api('GET', '/api/runs?status=waiting_approval&limit=1000');
  for (const run of waiting.body as { run_id: string }[]) {
    const r = await d.api('POST', `/api/runs/${run.run_id}/approve`);
    if (r.status === 200) {
      tally.approvals++;
      acted++;
    }
  }
  const running = await d.api('GET', '/api/runs?status=running&sop=gated&limit=1000');
  for (const run of running.body as { run_id: string; current_step: number }[]) {
    if (run.current_step !== 2) continue;
    const r = await d.api('POST', `/api/runs/${run.run_id}/advance`, JSON.stringify({ status: 'completed', output: 'soak' }));
    if (r.status === 200) {
      tally.advances++;
      acted++;
    }
  }
  return acted;
}

function fail(message: string): never {
  console.error(`soak FAILED (seed ${SEED}): ${message}`);
  process.exitCode = 1;
  throw new Error(message);
}

async function main(): Promise<void> {
  const pkg = await packagedBundle();
  const root = await makeTree({ 'sopgate.toml': CONFIG, ...FILES });
  const config = join(root, 'sopgate.toml');
  const stepsLog = join(root, 'steps.log');
  appendFileSync(stepsLog, '');
  const env: NodeJS.ProcessEnv = { ...process.env, SOAK_LOG: stepsLog };
  for (const key of ['NODE_OPTIONS', 'NOTIFY_SOCKET', 'WATCHDOG_USEC']) delete env[key];
  const tally: Tally = { acknowledged: new Set(), sensors: 0, webhooks: 0, executes: 0, approvals: 0, advances: 0, errors: 0 };
  console.log(`soak: ${CYCLES} cycle(s), seed ${SEED}`);
  const t0 = performance.now();
  let d: DaemonProcess | null = null;
  try {
    d = await spawnDaemon(pkg.bundle, config, { env });
    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      const ms = 200 + Math.floor(random() * 1_500);
      let stopped = false;
      const running = load(d, tally, () => stopped);
      await sleep(ms);
      d.child.kill('SIGKILL');
      await d.exited;
      stopped = true;
      await running;
      d = await spawnDaemon(pkg.bundle, config, { env });
      // Every acknowledged run is there after the restart.
      let missing = 0;
      for (const id of tally.acknowledged) {
        const r = await d.api('GET', `/api/runs/${id}`);
        if (r.status !== 200) missing++;
      }
      console.log(`cycle ${cycle}: killed after ${ms} ms, ${tally.acknowledged.size} acknowledged run(s) so far, ${missing} missing`);
      if (missing > 0) fail(`${missing} acknowledged run(s) missing after restart ${cycle}`);
    }
    // Quiet: approve and advance until every run has finished.
    const deadline = Date.now() + 60_000;
    for (;;) {
      await settleWaiting(d, tally);
      const active = [
        ...((await d.api('GET', '/api/runs?status=running&limit=1000')).body as { run_id: string }[]),
        ...((await d.api('GET', '/api/runs?status=waiting_approval&limit=1000')).body as { run_id: string }[]),
      ];
      if (active.length === 0) break;
      if (Date.now() > deadline) fail(`${active.length} run(s) still active 60 s after the load stopped: ${active.slice(0, 5).map((r) => r.run_id).join(', ')}`);
      await sleep(100);
    }
    d.child.kill('SIGTERM');
    await d.exited;
    d = null;
    checkDatabase(join(root, 'state/sopgate.db'), stepsLog, tally);
    const secs = (performance.now() - t0) / 1000;
    console.log(
      `soak ok in ${secs.toFixed(1)} s: ${tally.acknowledged.size} acknowledged runs, ${tally.sensors} sensor messages, ${tally.webhooks} webhooks, ` +
        `${tally.executes} executes, ${tally.approvals} approvals, ${tally.advances} external results, ${tally.errors} requests cut by the kills`,
    );
  } finally {
    await d?.kill();
    await removeTree(root);
    await removePackagedBundle();
  }
}

/** After the last stop: integrity, every run finished, and a step run twice only where resumed. */
function checkDatabase(file: string, stepsLog: string, tally: Tally): void {
  if (!existsSync(file)) fail(`no database at ${file}`);
  const db = new Database(file, { readonly: true });
  try {
    const integrity = db.pragma('integrity_check', { simple: true });
    if (integrity !== 'ok') fail(`integrity_check: ${String(integrity)}`);
    const stuck = db.prepare(`SELECT count(*) AS n FROM runs WHERE status NOT IN ('completed', 'failed', 'cancelled')`).get() as { n: number };
    if (stuck.n > 0) fail(`${stuck.n} run(s) not finished after the quiet`);
    const failed = db.prepare(`SELECT run_id, reason FROM runs WHERE status = 'failed' LIMIT 3`).all() as { run_id: string; reason: string }[];
    if (failed.length > 0) fail(`runs failed: ${failed.map((r) => `${r.run_id}: ${r.reason}`).join('; ')}`);
    const stored = new Set((db.prepare(`SELECT run_id FROM runs`).all() as { run_id: string }[]).map((r) => r.run_id));
    for (const id of tally.acknowledged) if (!stored.has(id)) fail(`acknowledged run ${id} is not in the database`);
    const resumed = new Map<string, number>();
    for (const row of db.prepare(`SELECT run_id, step_number FROM ledger WHERE kind = 'resumed'`).all() as { run_id: string; step_number: number }[]) {
      const key = `${row.run_id} ${row.step_number}`;
      resumed.set(key, (resumed.get(key) ?? 0) + 1);
    }
    const ran = new Map<string, number>();
    for (const line of readFileSync(stepsLog, 'utf8').split('\n')) if (line !== '') ran.set(line, (ran.get(line) ?? 0) + 1);
    let twice = 0;
    for (const [key, n] of ran) {
      if (n <= 1) continue;
      twice++;
      const allowed = 1 + (resumed.get(key) ?? 0);
      if (n > allowed) fail(`step "${key}" ran ${n} times but the ledger shows ${allowed - 1} resume(s)`);
    }
    const runsWithSteps = new Set([...ran.keys()].map((k) => k.split(' ')[0]));
    for (const id of runsWithSteps) if (!stored.has(id!)) fail(`a step ran for run ${id}, which the database does not know`);
    console.log(`database: integrity ok, ${stored.size} runs all finished, ${ran.size} built-in steps ran, ${twice} of them again after a restart (each resumed in the ledger)`);
  } finally {
    db.close();
  }
}

await main().catch((err: unknown) => {
  if (process.exitCode !== 1) console.error(err);
  process.exitCode = 1;
});
