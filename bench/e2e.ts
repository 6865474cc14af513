// End-to-end benchmark: prints figures, asserts nothing. `npm run bench:e2e`.
//
// Builds the bundle into a temp folder (so it measures the current code). Each broker runs
// in a child process of its own; the mqtt.js publisher and subscriber (QoS 0, ~100-byte
// JSON on sensors/<site>/temp) run here. In one run:
//   1. bare aedes pass-through (aedes' README server in a tiny child), and the same with
//      noDelay sockets as the gateway's listener uses, to tell socket options from hooks;
//   2. the same through the gateway (the bundle, 100 SOPs, none matching): ratio to bare;
//   3. the sensor-alert flow: 100,000 messages, half starting an `auto` SOP whose `log`
//      step completes at once, until the last run is persisted as completed (twice);
//   4. publish → `started` and → `completed` run events (each sent once its commit is on
//      disk) at 1,000 msg/s;
//   5. spawn → ready line, median of 5 spawns on fresh state and 5 restarts on kept state,
//      with the environment systemd gives the unit (and fresh with this shell's);
//   6. the daemon's RSS idle (fresh and restarted, 1 s and IDLE_SECS after ready; in MiB,
//      as /proc counts, against the target's 60 MB; then the restarted one 2 s after a
//      sensor connected and published once), 1 s after the first and the second load, and once the gateway has been quiet for
//      QUIET_SECS (its idle GC has given back what the burst grew; the growth target applies
//      to that one), then the V8 heap after a full GC, where a leak would show (a
//      bench-only preload: a SIGUSR2 handler that exposes gc at run time; src/ is untouched).
// The peak RSS through each burst is VmHWM, started over (clear_refs) as the burst begins.
// Options: `--synchronous normal|full` sets [store] synchronous (default: the config's);
// `--cpu-prof DIR` runs the gateway under node --cpu-prof and leaves the profile in DIR;
// `--baseline REF` builds the commit REF too (git archive, this checkout's node_modules)
// and runs its gateway, with the node options of its own unit, beside this one through
// pass-through, both loads (alternating which goes first) and the latency run, and prints
// both side by side: on a shared machine only figures from one run compare.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, fdatasync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connectAsync, type MqttClient } from 'mqtt';
import { logSteps, sopToml, trigger } from '../test/helpers/fixtures.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TOKEN = 'bench-token';
const PASS_N = 100_000;
const PASS_WARMUP = 20_000;
const PASS_ROUNDS = 3;
/** Published but not yet received, in pass-through: bounds every queue in between. */
const PASS_WINDOW = 5_000;
const FLOW_N = 100_000;
const LATENCY_RATE = 1_000;
const LATENCY_SECS = 10;
/** Not measured: the first run events JIT-compile the subscriber path in the daemon. */
const LATENCY_WARMUP_SECS = 1;
const STARTUPS = 5;
/** After a load: the daemon's idle GC looks every 2 s; its last collection comes ~25 s into the quiet. */
const QUIET_SECS = 30;
/** Idle RSS is read this long after ready: V8's memory reducer acts 10-30 s into a quiet start. */
const IDLE_SECS = 40;
const SITES = 50;
/** A Raspberry Pi Zero 2 W has 512 MB for everything: the gateway's peak through a burst. */
const PEAK_TARGET_MIB = 160;
const ALERT_SOP = 'sensor-alert';

const args = parseArgs({ options: { synchronous: { type: 'string' }, 'cpu-prof': { type: 'string' }, baseline: { type: 'string' } } }).values;
if (args.synchronous !== undefined && !['normal', 'full'].includes(args.synchronous)) throw new Error('--synchronous must be normal or full');
const tmp = mkdtempSync(join(tmpdir(), 'sopgate-bench-e2e-'));

// --- child processes and /proc ----------------------------------------------------------

const children = new Set<ChildProcess>();
/** CPU seconds of children that have exited, so that the rest of the machine's use is known. */
let childCpuSecs = 0;
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

/** User + system CPU seconds of a process (proc(5) stat fields 14 and 15). */
function cpuSecs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** CPU seconds every process on the machine has used (user, nice, system, irq, softirq, steal). */
function machineCpuSecs(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).map(Number);
  return ((f[1] ?? 0) + (f[2] ?? 0) + (f[3] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0) + (f[8] ?? 0)) / CLK_TCK;
}

interface Rss {
  total: number;
  /** Anonymous memory: RSS also counts the node binary's file-backed pages. */
  anon: number;
  /** Peak RSS since the process started. */
  peak: number;
}

/** Starts VmHWM over from the current RSS (proc(5) clear_refs, "5"); false where the kernel refuses. */
function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** VmRSS, RssAnon and VmHWM in MiB (/proc counts kB of 1,024 bytes). */
function rss(pid: number): Rss {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const mb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1]) / 1024;
  return { total: mb('VmRSS'), anon: mb('RssAnon'), peak: mb('VmHWM') };
}

interface Started {
  proc: ChildProcess;
  match: RegExpExecArray;
  /** Spawn → ready line. */
  ms: number;
}

/** Spawns node with `argv`; resolves at the first stdout match of `ready`. Stdout is drained and dropped after that. */
function spawnUntil(argv: string[], cwd: string, ready: RegExp, env: NodeJS.ProcessEnv = process.env): Promise<Started> {
  const t0 = performance.now();
  const proc = spawn(process.execPath, argv, { cwd, env, stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(proc);
  proc.once('exit', () => children.delete(proc));
  return new Promise((resolve, reject) => {
    let seen = '';
    let settled = false;
    const finish = (err: Error | null, match?: RegExpExecArray) => {
      settled = true;
      seen = '';
      clearTimeout(timer);
      proc.off('exit', onExit);
      if (err === null) return resolve({ proc, match: match!, ms: performance.now() - t0 });
      proc.kill('SIGKILL');
      reject(err);
    };
    const timer = setTimeout(() => finish(new Error(`no ready line within 15 s from ${argv.join(' ')}:\n${seen.slice(-2000)}`)), 15_000);
    const onExit = (code: number | null) => finish(new Error(`${argv.join(' ')} exited (${code}) before it was ready:\n${seen.slice(-2000)}`));
    proc.once('exit', onExit);
    proc.stdout!.on('data', (chunk: Buffer) => {
      if (settled) return; // the daemon logs lines per run event: read them and drop them
      seen += chunk.toString('utf8');
      const match = ready.exec(seen);
      if (match !== null) finish(null, match);
    });
  });
}

async function stopChild(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  childCpuSecs += cpuSecs(proc.pid!);
  const exited = once(proc, 'exit');
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

function killAll(): void {
  for (const proc of children) proc.kill('SIGKILL');
}

/** aedes' README server, nothing else; `noDelay` as the gateway's listener sets it. */
const bareBroker = (noDelay: boolean) => `
const { Aedes } = await import('aedes');
const { createServer } = await import('node:net');
const broker = await Aedes.createBroker();
const server = createServer({ noDelay: ${noDelay} }, broker.handle);
server.listen(0, '127.0.0.1', () => console.log('ready ' + server.address().port));
process.on('SIGTERM', () => broker.close(() => server.close(() => process.exit(0))));
`;

// --- the gateway --------------------------------------------------------------------------

/** 99 decoys (MQTT elsewhere, on the same topic with a condition that never holds, cron, webhook, manual) and the alert SOP. */
function writeWorkspace(dir: string): string {
  const put = (name: string, extra: string, triggers: string, message: string) => {
    mkdirSync(join(dir, 'sops', name), { recursive: true });
    writeFileSync(join(dir, 'sops', name, 'SOP.toml'), sopToml(name, extra, triggers));
    writeFileSync(join(dir, 'sops', name, 'SOP.md'), logSteps(message));
  };
  for (let i = 0; i < 99; i++) {
    const name = `decoy-${String(i).padStart(2, '0')}`;
    const lines = [
      `type = "mqtt"\ntopic = "plant/line-${i}/pressure"\ncondition = "$.bar > 8"`,
      `type = "mqtt"\ntopic = "sensors/+/humidity"\ncondition = "$.value > ${90 + (i % 10)}"`,
      `type = "mqtt"\ntopic = "sensors/+/temp"\ncondition = "$.value < -${20 + i}"`,
      `type = "cron"\nexpression = "${i % 60} 3 * * *"\n\n[[triggers]]\ntype = "manual"`,
      `type = "webhook"\npath = "/sop/${name}"`,
    ][i % 5]!;
    put(name, 'priority = "low"', trigger(lines), `${name} {{payload}}`);
  }
  put(
    ALERT_SOP,
    'priority = "normal"\nexecution_mode = "auto"\nmax_concurrent = 1000000',
    trigger('type = "mqtt"', 'topic = "sensors/+/temp"', 'condition = "$.value >= 85"'),
    'alert {{payload.value}}',
  );
  const config = join(dir, 'sopgate.toml');
  writeFileSync(
    config,
    `state_dir = "state"\n\n[engine]\nmax_concurrent_total = 1000000\nmax_finished_runs = 1000000\n\n` +
      `[http]\nlisten = "127.0.0.1:0"\ntoken = "${TOKEN}"\nrate_limit_per_minute = 0\n\n[mqtt]\nlisten = "127.0.0.1:0"\n` +
      // Pass-through keeps PASS_WINDOW messages in flight: the subscriber's queue bound sits
      // above it, so that a subscriber a little slower than the publisher loses nothing.
      `max_queued_messages = ${PASS_WINDOW * 2}\nmax_queued_bytes = ${PASS_WINDOW * 2 * 1024}\n` +
      (args.synchronous === undefined ? '' : `\n[store]\nsynchronous = "${args.synchronous}"\n`),
  );
  return config;
}

interface Gateway {
  proc: ChildProcess;
  http: number;
  mqtt: number;
  ms: number;
}

const READY = /ready: HTTP on 127\.0\.0\.1:(\d+), MQTT on 127\.0\.0\.1:(\d+),/;
const GC_FILE = join(tmp, 'heap-after-gc.txt');
const GC_PRELOAD = join(tmp, 'gc-preload.cjs');
writeFileSync(GC_FILE, '');
writeFileSync(
  GC_PRELOAD,
  // The gateway runs with the unit's --expose-gc, so gc() is there (a baseline's unit may lack it).
  `process.on('SIGUSR2', () => { globalThis.gc?.(); require('node:fs').appendFileSync(${JSON.stringify(GC_FILE)}, process.memoryUsage().heapUsed + '\\n'); });\n`,
);

/**
 * The environment systemd gives the unit: PATH, the unit's own Environment= lines and
 * little else. This shell's may hold more that node reads at every start
 * (NODE_EXTRA_CA_CERTS costs ~40 ms on a machine where it names the system bundle), so
 * spawn times are measured both ways.
 */
const unitEnv = (unit: string): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, LANG: 'C.UTF-8', ...unitEnvironment(unit) });
const UNIT = readFileSync(join(ROOT, 'systemd/sopgate.service'), 'utf8');
const UNIT_ENV = unitEnv(UNIT);
/** The node options of the unit's ExecStart (`--expose-gc` for the idle GC, ...). */
const UNIT_FLAGS = unitFlags(UNIT);

/** node's own options in a unit's ExecStart: the words between the node binary and the script. */
function unitFlags(unit: string): string[] {
  const words = /^ExecStart=(.*)$/m.exec(unit)?.[1]?.trim().split(/\s+/) ?? [];
  const script = words.findIndex((w, i) => i > 0 && !w.startsWith('-'));
  return words.slice(1, script < 0 ? undefined : script);
}

/** `Environment=NAME=value` lines of a unit (unquoted values only). */
function unitEnvironment(unit: string): Record<string, string> {
  return Object.fromEntries([...unit.matchAll(/^Environment=([A-Za-z_][A-Za-z0-9_]*)=(\S*)$/gm)].map((m) => [m[1]!, m[2]!]));
}

interface Build {
  bundle: string;
  /** The node options and environment of its unit. */
  flags: string[];
  env: NodeJS.ProcessEnv;
  /** What it is: the commit, or this checkout. */
  name: string;
}

/** `ref`'s tree (git archive, with this checkout's node_modules) built into a bundle of its own. */
function buildRef(ref: string): Build {
  const commit = spawnSync('git', ['rev-parse', '--short', `${ref}^{commit}`], { cwd: ROOT, encoding: 'utf8' });
  if (commit.status !== 0) throw new Error(`--baseline ${ref}: ${commit.stderr.trim()}`);
  const tree = join(tmp, 'baseline-tree');
  mkdirSync(tree);
  const archive = spawnSync('sh', ['-c', `git archive ${commit.stdout.trim()} | tar -x -C ${JSON.stringify(tree)}`], { cwd: ROOT, stdio: 'inherit' });
  if (archive.status !== 0) throw new Error(`--baseline ${ref}: git archive failed`);
  symlinkSync(join(ROOT, 'node_modules'), join(tree, 'node_modules'));
  // A folder of its own: the build writes the upstream's mqtt-client.cjs beside the bundle.
  const bundle = join(tmp, 'baseline-dist/sopgate.cjs');
  if (spawnSync(process.execPath, ['build.mjs', '--outfile', bundle], { cwd: tree, stdio: 'inherit' }).status !== 0) throw new Error(`--baseline ${ref}: the bundle did not build`);
  const unit = readFileSync(join(tree, 'systemd/sopgate.service'), 'utf8');
  return { bundle, flags: unitFlags(unit), env: unitEnv(unit), name: `${ref} (${commit.stdout.trim()})` };
}

async function startGateway(bundle: string, dir: string, nodeFlags: string[] = [], baseEnv: NodeJS.ProcessEnv = process.env): Promise<Gateway> {
  const config = writeWorkspace(dir);
  // better-sqlite3 stays outside the bundle; info level (one line per run event) as in production.
  const env: NodeJS.ProcessEnv = { ...baseEnv, NODE_PATH: join(ROOT, 'node_modules') };
  delete env.SOPGATE_LOG_LEVEL;
  delete env.NOTIFY_SOCKET;
  const { proc, match, ms } = await spawnUntil([...nodeFlags, bundle, 'daemon', '--config', config], dir, READY, env);
  return { proc, http: Number(match[1]), mqtt: Number(match[2]), ms };
}

const api = (port: number, path: string) =>
  fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization: `Bearer ${TOKEN}` }, signal: AbortSignal.timeout(10_000) });

/** Asks the daemon (started with the GC preload) for a full GC; its heap afterwards in MiB. */
async function heapAfterGc(gw: Gateway): Promise<number> {
  const lines = () => readFileSync(GC_FILE, 'utf8').split('\n').filter((l) => l !== '');
  const before = lines().length;
  gw.proc.kill('SIGUSR2');
  for (let waited = 0; waited < 5_000; waited += 10) {
    const now = lines();
    if (now.length > before) return Number(now[now.length - 1]) / 2 ** 20;
    await sleep(10);
  }
  return Number.NaN;
}

async function metrics(port: number): Promise<Map<string, number>> {
  const res = await api(port, '/metrics');
  if (!res.ok) throw new Error(`GET /metrics: ${res.status}`);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    out.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return out;
}

// --- traffic ------------------------------------------------------------------------------

const topicOf = (i: number) => `sensors/site-${String(i % SITES).padStart(2, '0')}/temp`;

/** ~100 bytes of sensor JSON; `t` is the send time on this process's clock. */
function reading(i: number, value: number): string {
  return `{"sensor":"probe-${i % 8}","site":"site-${String(i % SITES).padStart(2, '0')}","value":${value.toFixed(2)},"unit":"F","battery":0.9${i % 10},"seq":${i},"t":${performance.now().toFixed(3)}}`;
}
const coldValue = (i: number) => 60 + (i % 249) / 10; // 60.0 – 84.8: no SOP matches
const hotValue = (i: number) => 85 + (i % 150) / 10; // 85.0 – 99.9: the alert SOP matches

/**
 * An mqtt.js client with Nagle's algorithm off, as the gateway's own sockets run: with it
 * on, a QoS 0 publisher's small packets wait for the broker's delayed ACK (up to 40 ms on
 * Linux), which measures the kernel, not the gateway.
 */
async function connect(port: number, id: string): Promise<MqttClient> {
  const client = await connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: `bench-${id}-${process.pid}`, reconnectPeriod: 0, connectTimeout: 10_000 }, false);
  (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
  return client;
}

/**
 * Publishes message i for i in [from, to), respecting backpressure: a QoS 0 publish calls
 * back at once when the socket took the packet, and on 'drain' when it did not; we wait for
 * that. Yields every 64 messages so the subscriber and the daemon's stdout are read, and,
 * with `room` (told how many it has published), waits until it allows more in flight.
 */
async function publishRange(client: MqttClient, from: number, to: number, payload: (i: number) => string, room?: (published: number) => boolean): Promise<void> {
  for (let i = from; i < to; i++) {
    let written = false;
    let failed: Error | undefined;
    let wake: (() => void) | undefined;
    client.publish(topicOf(i), payload(i), { qos: 0 }, (err) => {
      written = true;
      failed = err;
      wake?.();
    });
    if (!written) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve, reject) => {
        wake = resolve;
        timer = setTimeout(() => reject(new Error('the broker has not read from the publisher for 30 s')), 30_000);
      });
      clearTimeout(timer);
    }
    if (failed !== undefined) throw failed;
    if ((i & 63) !== 63) continue;
    await new Promise((resolve) => setImmediate(resolve));
    for (let waited = 0; room !== undefined && !room(i + 1 - from); waited++) {
      if (waited > 10_000) throw new Error('the subscriber stopped receiving');
      await sleep(1);
    }
  }
}

/** Resolves true when `done()` holds, false once `progress()` has not moved for `stallMs`. */
async function waitFor(done: () => boolean, progress: () => number, stallMs: number): Promise<boolean> {
  for (let last = progress(), since = performance.now(); !done(); await sleep(5)) {
    if (progress() !== last) [last, since] = [progress(), performance.now()];
    else if (performance.now() - since > stallMs) return false;
  }
  return true;
}

// --- 1, 2: pass-through ---------------------------------------------------------------------

interface Round {
  rate: number;
  lost: number;
  /** CPU of the broker process and of this one, as a share of one core. */
  brokerCpu: number;
  benchCpu: number;
}

/** Rounds of publisher → broker → subscriber on one broker; messages/s as received. */
class PassThrough {
  readonly rounds: Round[] = [];
  private received = 0;
  private lastAt = 0;
  private sent = 0;

  private constructor(private readonly pub: MqttClient, private readonly sub: MqttClient, private readonly pid: number, private readonly name: string) {
    sub.on('message', () => {
      this.received++;
      this.lastAt = performance.now();
    });
  }

  static async open(port: number, pid: number, name: string): Promise<PassThrough> {
    const sub = await connect(port, `${name}-sub`);
    await sub.subscribeAsync('sensors/#', { qos: 0 });
    const rig = new PassThrough(await connect(port, `${name}-pub`), sub, pid, name);
    await rig.round(PASS_WARMUP); // JIT and buffers warm
    rig.rounds.length = 0;
    return rig;
  }

  async round(n: number): Promise<void> {
    const [from, base, cpu0, bench0] = [this.sent, this.received, cpuSecs(this.pid), process.cpuUsage()];
    const t0 = performance.now();
    // The window counts what this round published so far against what came back.
    const room = (published: number): boolean => published - (this.received - base) < PASS_WINDOW;
    await publishRange(this.pub, from, from + n, (i) => reading(i, coldValue(i)), room).catch((err: Error) => {
      throw new Error(`${this.name} pass-through: ${err.message}`);
    });
    this.sent = from + n;
    await waitFor(() => this.received - base >= n, () => this.received, 5_000);
    const secs = (this.lastAt - t0) / 1000;
    const bench = process.cpuUsage(bench0);
    this.rounds.push({
      rate: (this.received - base) / secs,
      lost: n - (this.received - base),
      brokerCpu: (cpuSecs(this.pid) - cpu0) / secs,
      benchCpu: (bench.user + bench.system) / 1e6 / secs,
    });
  }

  /** The fastest round: on a shared machine, noise only ever slows a round down. */
  best(): Round {
    return this.rounds.reduce((a, b) => (b.rate > a.rate ? b : a));
  }

  async close(): Promise<void> {
    await Promise.all([this.pub.endAsync(true), this.sub.endAsync(true)]);
  }
}

// --- 3: the sensor-alert flow -----------------------------------------------------------------

interface Flow {
  rate: number;
  runsPerSec: number;
  publishSecs: number;
  totalSecs: number;
  matching: number;
  events: number;
  matches: number;
  started: number;
  completed: number;
  persisted: number;
  accounted: boolean;
  daemonCpu: number;
  /** The daemon's peak RSS (MiB) from the first message until the last run was persisted. */
  peak: number;
  /** False: the kernel would not start VmHWM over, so `peak` is since the daemon started. */
  peakOfBurst: boolean;
}

/** The newest run of the alert SOP: its status and the sequence number of the message that started it. */
async function newestRun(port: number): Promise<{ status: string; seq: number }> {
  const runs = (await (await api(port, `/api/runs?sop=${ALERT_SOP}&limit=1`)).json()) as { status: string; trigger_event: { payload: string } }[];
  const run = runs[0];
  return run === undefined ? { status: 'none', seq: -1 } : { status: run.status, seq: (JSON.parse(run.trigger_event.payload) as { seq: number }).seq };
}

/** Every other message starts a run; done when the last one is persisted as completed. */
async function sensorAlertFlow(gw: Gateway, pub: MqttClient, seqBase: number): Promise<Flow> {
  const matching = Math.ceil(FLOW_N / 2);
  const m0 = await metrics(gw.http);
  let m = m0;
  const delta = (key: string) => (m.get(key) ?? 0) - (m0.get(key) ?? 0);
  // sopgate_runs_finished_total counts a run once its completion is durable in SQLite.
  const persisted = () => delta('sopgate_runs_finished_total{status="completed"}');
  const events = () => delta('sopgate_events_total{source="mqtt"}');
  const cpu0 = cpuSecs(gw.proc.pid!);
  const peakOfBurst = resetPeak(gw.proc.pid!);
  const t0 = performance.now();
  await publishRange(pub, seqBase, seqBase + FLOW_N, (i) => reading(i, (i - seqBase) % 2 === 0 ? hotValue(i) : coldValue(i)));
  const published = performance.now();
  // Poll the newest run (the newest rows are all the alert's, so the query stops at the
  // first) until it is the last alert's and completed, then let /metrics confirm that every
  // run is persisted.
  const lastAlert = seqBase + 2 * (matching - 1);
  let end = Number.NaN;
  for (let last = '', since = published; ; await sleep(20)) {
    const newest = await newestRun(gw.http);
    const now = performance.now();
    if (newest.seq === lastAlert && newest.status === 'completed') {
      m = await metrics(gw.http);
      if (persisted() >= matching && events() >= FLOW_N) {
        end = now;
        break;
      }
    }
    const progress = `${newest.seq} ${newest.status}`;
    if (progress !== last) [last, since] = [progress, now];
    else if (now - since > 30_000) break; // stalled: report what arrived
  }
  const peak = rss(gw.proc.pid!).peak;
  m = await metrics(gw.http);
  const totalSecs = ((Number.isNaN(end) ? performance.now() : end) - t0) / 1000;
  const r = {
    events: events(),
    matches: delta('sopgate_matches_total'),
    started: delta('sopgate_runs_started_total'),
    completed: delta('sopgate_runs_finished_total{status="completed"}'),
    persisted: persisted(),
  };
  return {
    ...r,
    matching,
    rate: FLOW_N / totalSecs,
    runsPerSec: r.persisted / totalSecs,
    publishSecs: (published - t0) / 1000,
    totalSecs,
    // Runs started + non-matches = sent, and every run that started is persisted as completed.
    accounted: r.events === FLOW_N && r.started === matching && r.started + (r.events - r.matches) === FLOW_N && r.persisted === matching,
    daemonCpu: (cpuSecs(gw.proc.pid!) - cpu0) / totalSecs,
    peak,
    peakOfBurst,
  };
}

// --- 4: latency -----------------------------------------------------------------------------

interface Quantiles {
  received: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  over10: number;
}

interface Latency {
  sent: number;
  /** The store during the measured seconds, from /metrics: commits and WAL fdatasyncs per second, mean sync. */
  store: { commitsPerSec: number; syncsPerSec: number; meanSyncMs: number };
  /** Publish → `started`: the run is durable (the event goes out after its commit is on disk). */
  started: Quantiles;
  /** Publish → `completed`: its one step ran and that is durable too. */
  completed: Quantiles;
}

function quantiles(samples: number[]): Quantiles {
  const sorted = samples.slice().sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { received: samples.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1), over10: samples.filter((x) => x > 10).length };
}

/** Publish → `started` and → `completed` run events at a steady rate, every message an alert; the first second warms up. */
async function latencyFlow(gw: Gateway, pub: MqttClient, seqBase: number): Promise<Latency> {
  const warmup = LATENCY_RATE * LATENCY_WARMUP_SECS;
  const sub = await connect(gw.mqtt, 'latency-sub');
  const samples = { started: [] as number[], completed: [] as number[] };
  sub.on('message', (topic, message) => {
    const now = performance.now();
    const run = JSON.parse(message.toString('utf8')) as { trigger_event: { payload: string } };
    const p = JSON.parse(run.trigger_event.payload) as { seq: number; t: number };
    if (p.seq >= seqBase + warmup) samples[topic.endsWith('/started') ? 'started' : 'completed'].push(now - p.t);
  });
  await sub.subscribeAsync(['sopgate/runs/+/started', 'sopgate/runs/+/completed'], { qos: 0 });
  const total = LATENCY_RATE * LATENCY_SECS;
  const start = performance.now();
  let before: { at: number; m: Map<string, number> } | null = null;
  for (let sent = 0; sent < warmup + total; await sleep(1)) {
    const due = Math.min(warmup + total, Math.floor(((performance.now() - start) * LATENCY_RATE) / 1000) + 1);
    await publishRange(pub, seqBase + sent, seqBase + due, (i) => reading(i, hotValue(i)));
    sent = due;
    if (before === null && sent >= warmup) before = { at: performance.now(), m: await metrics(gw.http) };
  }
  await waitFor(() => samples.completed.length >= total, () => samples.completed.length, 3_000);
  const after = await metrics(gw.http);
  const secs = (performance.now() - before!.at) / 1000;
  const delta = (name: string) => (after.get(name) ?? 0) - (before!.m.get(name) ?? 0);
  const syncs = delta('sopgate_store_syncs_total');
  const store = { commitsPerSec: delta('sopgate_store_commits_total') / secs, syncsPerSec: syncs / secs, meanSyncMs: syncs === 0 ? Number.NaN : (delta('sopgate_store_sync_seconds_sum') / syncs) * 1000 };
  await sub.endAsync(true);
  return { sent: total, store, started: quantiles(samples.started), completed: quantiles(samples.completed) };
}

/**
 * fdatasync(2) on this machine's disk, as the gateway's WAL sync does it (an 8 KiB append,
 * then fdatasync on the thread pool): with synchronous = "full" every latency sample waits
 * for one or two of these.
 */
async function diskSync(n = 2_000): Promise<Quantiles> {
  const file = join(tmp, 'fdatasync-probe');
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(8192, 1);
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    writeSync(fd, chunk);
    const t = performance.now();
    await new Promise<void>((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())));
    samples.push(performance.now() - t);
  }
  closeSync(fd);
  return quantiles(samples);
}

// --- report ---------------------------------------------------------------------------------

const fmt = (n: number, digits = 0): string =>
  Number.isFinite(n) ? n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a';
const median = (xs: number[]): number => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const rows: string[][] = [['figure', 'value', 'target', 'met']];
const row = (figure: string, value: string, target = '', met?: boolean) => rows.push([figure, value, target, met === undefined ? '' : met ? 'yes' : 'no']);

function printTable(): void {
  const w = [0, 1, 2].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) console.log(`  ${r[0]!.padEnd(w[0]!)}  ${r[1]!.padStart(w[1]!)}  ${r[2]!.padEnd(w[2]!)}  ${r[3]}`.trimEnd());
}

// --- main -----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const cpu = cpus();
  console.log(`sopgate end-to-end bench — node ${process.version}, ${cpu.length} × ${cpu[0]?.model.trim() ?? '?'}, Linux ${release()}, ${fmt(totalmem() / 2 ** 30, 1)} GB RAM, load average ${fmt(loadavg()[0]!, 2)}`);
  const bundle = join(tmp, 'sopgate.cjs');
  const tb = performance.now();
  if (spawnSync(process.execPath, ['build.mjs', '--outfile', bundle], { cwd: ROOT, stdio: 'inherit' }).status !== 0) throw new Error('the bundle did not build');
  const baseline = args.baseline === undefined ? null : buildRef(args.baseline);
  console.log(
    `bundle built in ${fmt((performance.now() - tb) / 1000, 1)} s; ${reading(12345, 91.5).length}-byte payloads, QoS 0; ` +
      `[store] synchronous = ${args.synchronous ?? 'default (full)'}; daemon logs at info into a pipe this process drains; ` +
      `node ${UNIT_FLAGS.join(' ')}${baseline === null ? '' : `; baseline ${baseline.name}: node ${baseline.flags.join(' ')}`}\n`,
  );
  const [machine0, self0] = [machineCpuSecs(), process.cpuUsage()];
  const wall0 = performance.now();

  // 5. Spawn → ready, fresh state each time, before anything else loads the machine.
  // Alternating, so that drift hits all alike; a restart keeps the state folder (and with it
  // the SOP.md parse cache), as after a crash, a power cut or `systemctl restart`.
  const startups: number[] = [];
  const restarts: number[] = [];
  const shellStartups: number[] = [];
  for (let k = 0; k < STARTUPS; k++) {
    for (const [times, env, dir] of [
      [startups, UNIT_ENV, `startup-${k}`],
      [restarts, UNIT_ENV, `startup-${k}`],
      [shellStartups, process.env, `startup-shell-${k}`],
    ] as const) {
      const gw = await startGateway(bundle, join(tmp, dir), UNIT_FLAGS, env);
      times.push(gw.ms);
      await stopChild(gw.proc);
    }
  }

  const profDir = args['cpu-prof'] === undefined ? undefined : resolve(args['cpu-prof']);
  const gcFlags = [...UNIT_FLAGS, '--require', GC_PRELOAD];
  // Idle RSS on fresh state and after a restart (the SOP.md parses read back from
  // state_dir), both with the unit's environment: 1 s after ready, and once V8's memory
  // reducer has run (10-30 s into a quiet start, it gives back the young generation start-up grew).
  const gw = await startGateway(bundle, join(tmp, 'gateway'), profDir === undefined ? gcFlags : [...gcFlags, '--cpu-prof', '--cpu-prof-dir', profDir], UNIT_ENV);
  const restarted = await startGateway(bundle, join(tmp, 'startup-0'), gcFlags, UNIT_ENV);
  await sleep(1_000);
  const [rssStart, rssStartRestart] = [rss(gw.proc.pid!), rss(restarted.proc.pid!)];
  await sleep((IDLE_SECS - 1) * 1_000);
  const [rssIdle, rssIdleRestart] = [rss(gw.proc.pid!), rss(restarted.proc.pid!)];
  // A sensor connects and publishes once: the broker's first packets out (CONNACK) are
  // where mqtt-packet would build its number cache.
  const sensor = await connect(restarted.mqtt, 'idle-sensor');
  await sensor.publishAsync(topicOf(0), reading(0, coldValue(0)));
  await sleep(2_000);
  const rssSensor = rss(restarted.proc.pid!);
  await sensor.endAsync(true);
  await stopChild(restarted.proc);
  const heapIdle = await heapAfterGc(gw);
  const base = baseline === null ? null : await startGateway(baseline.bundle, join(tmp, 'baseline'), [...baseline.flags, '--require', GC_PRELOAD], baseline.env);

  // 1, 2. Pass-through, round-robin so that drift hits every broker alike; the best round counts.
  const bare = await spawnUntil(['--input-type=module', '-e', bareBroker(false)], ROOT, /ready (\d+)\n/);
  const bareNoDelay = await spawnUntil(['--input-type=module', '-e', bareBroker(true)], ROOT, /ready (\d+)\n/);
  const rigs = [
    await PassThrough.open(Number(bare.match[1]), bare.proc.pid!, 'bare'),
    await PassThrough.open(Number(bareNoDelay.match[1]), bareNoDelay.proc.pid!, 'nodelay'),
    await PassThrough.open(gw.mqtt, gw.proc.pid!, 'gateway'),
    ...(base === null ? [] : [await PassThrough.open(base.mqtt, base.proc.pid!, 'baseline')]),
  ];
  for (let r = 0; r < PASS_ROUNDS; r++) for (const rig of rigs) await rig.round(PASS_N);
  for (const rig of rigs) await rig.close();
  await Promise.all([stopChild(bare.proc), stopChild(bareNoDelay.proc)]);
  const [b, bnd, g, bg] = rigs.map((rig) => rig.best()) as [Round, Round, Round, Round | undefined];

  // 3, 6. The sensor-alert flow twice on the same daemon, each from a compacted heap; RSS
  // 1 s after each and once quiet, then the heap after a full GC. A baseline takes each
  // load too, after this build in load 1 and before it in load 2.
  await heapAfterGc(gw);
  const pub = await connect(gw.mqtt, 'flow-pub');
  const basePub = base === null ? null : await connect(base.mqtt, 'flow-pub-baseline');
  const baselineLoad = async (seqBase: number): Promise<{ flow: Flow; after: Rss } | null> => {
    if (base === null || basePub === null) return null;
    await heapAfterGc(base);
    const flow = await sensorAlertFlow(base, basePub, seqBase);
    await sleep(1_000);
    return { flow, after: rss(base.proc.pid!) };
  };
  const flow1 = await sensorAlertFlow(gw, pub, 1_000_000);
  const end1 = performance.now();
  await sleep(1_000);
  const rss1 = rss(gw.proc.pid!);
  const base1 = await baselineLoad(1_000_000);
  await sleep(Math.max(0, end1 + QUIET_SECS * 1_000 - performance.now()));
  const rss1q = rss(gw.proc.pid!);
  const heap1 = await heapAfterGc(gw);
  const base2 = await baselineLoad(2_000_000);
  const flow2 = await sensorAlertFlow(gw, pub, 2_000_000);
  await sleep(1_000);
  const rss2 = rss(gw.proc.pid!);
  await sleep((QUIET_SECS - 1) * 1_000);
  const rss2q = rss(gw.proc.pid!);
  const heap2 = await heapAfterGc(gw);
  const scrapes: number[] = [];
  for (let k = 0; k < 5; k++) {
    const t = performance.now();
    await metrics(gw.http);
    scrapes.push(performance.now() - t);
  }

  // 4. Latency at a steady rate, on the warm daemon (heap compacted after load 2); first
  // what the disk's fdatasync costs on its own.
  const disk = await diskSync();
  const lat = await latencyFlow(gw, pub, 3_000_000);
  const baseLat = base === null || basePub === null ? null : await latencyFlow(base, basePub, 3_000_000);
  await pub.endAsync(true);
  await basePub?.endAsync(true);
  await stopChild(gw.proc);
  if (base !== null) await stopChild(base.proc);
  const wallSecs = (performance.now() - wall0) / 1000;
  const self = process.cpuUsage(self0);
  const otherCpu = (machineCpuSecs() - machine0 - (self.user + self.system) / 1e6 - childCpuSecs) / wallSecs;

  const ratio = g.rate / b.rate;
  const growth = (rss2.total - rss1.total) / rss1.total;
  const growthQuiet = (rss2q.total - rss1q.total) / rss1q.total;
  const startup = median(startups);
  const mb = (r: Rss) => `${fmt(r.total, 1)} MiB`;
  /** The target's 60 MB, in the MiB /proc reports. */
  const RSS_TARGET_MIB = 60e6 / 2 ** 20;
  row('bare aedes pass-through', `${fmt(b.rate)} msg/s`);
  row('gateway pass-through (100 SOPs, none match)', `${fmt(g.rate)} msg/s`);
  row('  ratio to bare', fmt(ratio, 2), '≥ 0.80', ratio >= 0.8);
  for (const [i, f] of [flow1, flow2].entries()) {
    row(`sensor-alert flow, load ${i + 1}: end to end`, `${fmt(f.rate)} msg/s`, i === 0 ? '≥ 15,000 msg/s' : '', i === 0 ? f.rate >= 15_000 : undefined);
    row('  runs persisted as completed', `${fmt(f.runsPerSec)} runs/s`, i === 0 ? '≈ 7,500 runs/s' : '');
    row('  nothing lost', f.accounted ? 'yes' : 'no', 'yes', f.accounted);
    row(`  peak RSS through the burst${f.peakOfBurst ? '' : ' (since start: VmHWM not reset)'}`, `${fmt(f.peak, 1)} MiB`, `≤ ${PEAK_TARGET_MIB} MiB`, f.peak <= PEAK_TARGET_MIB);
  }
  row(`publish → run persisted at ${fmt(LATENCY_RATE)} msg/s: p50`, `${fmt(lat.started.p50, 2)} ms`);
  row('  p99', `${fmt(lat.started.p99, 2)} ms`, '≤ 10 ms', lat.started.p99 <= 10 && lat.started.received === lat.sent);
  row('publish → run persisted as completed: p50', `${fmt(lat.completed.p50, 2)} ms`);
  row('  p99', `${fmt(lat.completed.p99, 2)} ms`);
  row(`spawn → ready, median of ${STARTUPS} (the unit's environment)`, `${fmt(startup)} ms`, '≤ 300 ms', startup <= 300);
  row(`  restart (state kept)`, `${fmt(median(restarts))} ms`, '≤ 300 ms', median(restarts) <= 300);
  row(`  with this shell's environment`, `${fmt(median(shellStartups))} ms`);
  row(`RSS idle (${IDLE_SECS} s after ready), fresh state`, mb(rssIdle), '≤ 60 MB (57.2 MiB)', rssIdle.total <= RSS_TARGET_MIB);
  row('  after a restart (state kept)', mb(rssIdleRestart), '≤ 60 MB (57.2 MiB)', rssIdleRestart.total <= RSS_TARGET_MIB);
  row('  then 2 s after a sensor connected and published', mb(rssSensor), '≤ 60 MB (57.2 MiB)', rssSensor.total <= RSS_TARGET_MIB);
  row('RSS 1 s after ready, fresh state / restart', `${mb(rssStart)} / ${mb(rssStartRestart)}`);
  row('RSS 1 s after load 1 / load 2', `${mb(rss1)} / ${mb(rss2)}`);
  row('  growth of load 2 over load 1', `${fmt(growth * 100, 1)} %`);
  row(`RSS once quiet for ${QUIET_SECS} s, load 1 / load 2`, `${mb(rss1q)} / ${mb(rss2q)}`);
  row('  growth of load 2 over load 1', `${fmt(growthQuiet * 100, 1)} %`, '≤ 10 %', growthQuiet <= 0.1);
  printTable();
  if (baseline !== null && bg !== undefined && base1 !== null && base2 !== null && baseLat !== null) {
    console.log(`\nthis build against the baseline ${baseline.name}, in this run (ratio: this / baseline)`);
    rows.length = 0;
    rows.push(['figure', 'this build', 'baseline', 'ratio']);
    const ab = (figure: string, mine: number, theirs: number, unit: string, digits = 0) =>
      rows.push([figure, `${fmt(mine, digits)} ${unit}`, `${fmt(theirs, digits)} ${unit}`, fmt(mine / theirs, 2)]);
    ab('gateway pass-through', g.rate, bg.rate, 'msg/s');
    for (const [i, mine, theirs] of [[1, { flow: flow1, after: rss1 }, base1], [2, { flow: flow2, after: rss2 }, base2]] as const) {
      ab(`sensor-alert flow, load ${i}`, mine.flow.rate, theirs.flow.rate, 'msg/s');
      ab('  daemon CPU time (less disturbed by other work)', mine.flow.daemonCpu * mine.flow.totalSecs, theirs.flow.daemonCpu * theirs.flow.totalSecs, 's', 2);
      ab('  peak RSS through the burst', mine.flow.peak, theirs.flow.peak, 'MiB', 1);
      ab('  RSS 1 s after', mine.after.total, theirs.after.total, 'MiB', 1);
      rows.push(['  nothing lost', mine.flow.accounted ? 'yes' : 'no', theirs.flow.accounted ? 'yes' : 'no', '']);
    }
    ab(`publish → run persisted at ${fmt(LATENCY_RATE)} msg/s: p50`, lat.started.p50, baseLat.started.p50, 'ms', 2);
    ab('  p99', lat.started.p99, baseLat.started.p99, 'ms', 2);
    printTable();
  }

  const cpuOf = (x: Round) => `broker ${fmt(x.brokerCpu * 100)}% / bench ${fmt(x.benchCpu * 100)}% CPU`;
  const list = (rs: readonly Round[]) => rs.map((x) => fmt(x.rate)).join(', ');
  console.log('\ndetails');
  const [bareRig, noDelayRig, gatewayRig, baselineRig] = rigs as [PassThrough, PassThrough, PassThrough, PassThrough | undefined];
  console.log(
    `  pass-through, ${PASS_ROUNDS} rounds of ${fmt(PASS_N)} (best counts), msg/s: bare ${list(bareRig.rounds)}; bare+noDelay ${list(noDelayRig.rounds)}; ` +
      `gateway ${list(gatewayRig.rounds)}${baselineRig === undefined ? '' : `; baseline ${list(baselineRig.rounds)}`}`,
  );
  console.log(`  best rounds: bare ${cpuOf(b)}; bare+noDelay ${fmt(bnd.rate)} msg/s, ${cpuOf(bnd)}; gateway ${cpuOf(g)}`);
  console.log(`  gateway / bare+noDelay ${fmt(g.rate / bnd.rate, 2)} (the gateway's hooks and matching alone); messages lost ${b.lost} / ${bnd.lost} / ${g.lost}`);
  for (const [i, f] of [flow1, flow2].entries()) {
    console.log(
      `  load ${i + 1}: sent ${fmt(FLOW_N)}, events ${fmt(f.events)}, matches ${fmt(f.matches)}, runs started ${fmt(f.started)}, ` +
        `completed ${fmt(f.completed)}, persisted ${fmt(f.persisted)} (expected ${fmt(f.matching)}); published in ${fmt(f.publishSecs, 2)} s, ` +
        `last run persisted at ${fmt(f.totalSecs, 2)} s; daemon ${fmt(f.daemonCpu * 100)}% CPU`,
    );
  }
  for (const [i, f] of [base1?.flow, base2?.flow].entries()) {
    if (f !== undefined) {
      console.log(`  baseline load ${i + 1}: nothing lost ${f.accounted ? 'yes' : 'no'}; published in ${fmt(f.publishSecs, 2)} s, last run persisted at ${fmt(f.totalSecs, 2)} s; daemon ${fmt(f.daemonCpu * 100)}% CPU`);
    }
  }
  console.log(`  GET /metrics with ${fmt(2 * flow1.matching)} runs stored: ${fmt(median(scrapes), 1)} ms`);
  console.log(`  this disk's fdatasync (8 KiB appends, ${fmt(disk.received)} in a row): p50 ${fmt(disk.p50, 2)} ms, p99 ${fmt(disk.p99, 2)} ms, max ${fmt(disk.max, 2)} ms`);
  console.log(
    `  during the latency run: ${fmt(lat.store.commitsPerSec)} commits/s, ${fmt(lat.store.syncsPerSec)} WAL fdatasyncs/s of ${fmt(lat.store.meanSyncMs, 2)} ms on average ` +
      `(the disk busy syncing ${fmt(((lat.store.syncsPerSec * lat.store.meanSyncMs) / 1000) * 100)}% of the time: a run waits for the sync in flight, then its own)`,
  );
  for (const [name, q] of [['started', lat.started], ['completed', lat.completed]] as const) {
    console.log(`  latency to ${name}: ${fmt(q.received)} of ${fmt(lat.sent)} events, p90 ${fmt(q.p90, 2)} ms, max ${fmt(q.max, 2)} ms, ${fmt(q.over10)} over 10 ms`);
  }
  const list2 = (xs: number[]) => xs.map((x) => fmt(x)).join(', ');
  console.log(`  spawns (ms), the unit's environment: fresh ${list2(startups)}; restarts ${list2(restarts)}; this shell's: ${list2(shellStartups)}`);
  console.log(`  RSS anonymous (the rest is file-backed, mostly the node binary): idle ${fmt(rssIdle.anon, 1)} MiB (after a restart ${fmt(rssIdleRestart.anon, 1)} MiB), after load 1 ${fmt(rss1.anon, 1)} MiB, after load 2 ${fmt(rss2.anon, 1)} MiB, once quiet ${fmt(rss1q.anon, 1)} / ${fmt(rss2q.anon, 1)} MiB`);
  console.log(`  V8 heap after a full GC: idle ${fmt(heapIdle, 1)} MiB, after load 1 ${fmt(heap1, 1)} MiB, after load 2 ${fmt(heap2, 1)} MiB (growth ${fmt(((heap2 - heap1) / heap1) * 100, 1)} %)`);
  console.log(`  other processes used ${fmt(otherCpu * 100)}% of one core on average during the ${fmt(wallSecs)} s of measurements${otherCpu > 0.15 ? ': the figures are disturbed, run again on a quiet machine' : ''}`);
  if (profDir !== undefined) console.log(`  gateway CPU profile in ${profDir}`);
}

function cleanUp(): void {
  killAll();
  rmSync(tmp, { recursive: true, force: true });
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    cleanUp();
    process.exit(130);
  });
}
main().then(
  () => {
    cleanUp();
    process.exit(0); // keep-alive sockets must not hold the exit back
  },
  (err: unknown) => {
    console.error(`bench:e2e failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    cleanUp();
    process.exit(1);
  },
);
