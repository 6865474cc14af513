// Hardware benchmark: prints figures, asserts nothing but "nothing lost". `npm run bench:hardware`.
//
// Builds the bundle into a temp folder and runs the gateway as a child process, as the
// unit does (its node flags), with the production settings. Three figures:
//   1. serial lines through the daemon: a socat pty pair, a separate process (cat) writing
//      LINES `co2=<ppm>` lines into one end, the daemon reading the other through a board
//      profile; every line goes through the matcher, and half hold above the trigger's
//      condition and start an `auto` run whose `log` step completes at once. Lines/s from
//      the first byte written until the last run is persisted as completed, and whether
//      every line and every run is accounted for (the metrics say); then the same lines
//      all below the condition (reader and matcher alone) as a baseline;
//   2. a simulated press → run persisted: POST /api/sim/<board>/<button> "1", until the
//      run's `started` event (sent once its commit is on disk) arrives over MQTT; then the
//      release. p50 and p99 over PRESSES presses, on a button with debounce_ms = 0 (its
//      default 20 ms window would add 20 ms by design), beside a webhook into a run, the
//      same HTTP round trip without the board, interleaved with the presses as a baseline;
//   3. idle RSS (IDLE_SECS after ready) of the same gateway with one profile of 4 GPIO
//      signals (gpiod, libgpiod's tools faked by test/fixtures/fake-gpiod.cjs: they run as
//      children, outside the gateway's RSS, as the real tools do) and 1 serial signal on a
//      pty (the native binding loaded), against it without boards.
// Options: `--only serial|press|rss` runs one part; `--synchronous normal|full` sets
// [store] synchronous (default: the config's, full); `--cpu-prof DIR` runs the gateways under
// node --cpu-prof and leaves the profiles in DIR.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { connectAsync } from 'mqtt';
import { ptyPair } from './pty-pair.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TOKEN = 'bench-token';
const LINES = 100_000;
const LINES_TARGET = 20_000;
const PRESSES = 1_000;
const PRESS_WARMUP = 100;
const P99_TARGET_MS = 10;
const IDLE_SECS = 40;
const RSS_TARGET_MIB = 5;

const args = parseArgs({ options: { only: { type: 'string' }, synchronous: { type: 'string' }, 'cpu-prof': { type: 'string' } } }).values;
if (args.synchronous !== undefined && !['normal', 'full'].includes(args.synchronous)) throw new Error('--synchronous must be normal or full');
if (args.only !== undefined && !['serial', 'press', 'rss'].includes(args.only)) throw new Error('--only must be serial, press or rss');
const PROFILE_FLAGS = args['cpu-prof'] === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${args['cpu-prof']}`];

const tmp = mkdtempSync(join(tmpdir(), 'sopgate-bench-hw-'));
const children = new Set<ChildProcess>();
const track = (child: ChildProcess): ChildProcess => {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
};
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** The node options of the unit's ExecStart, before the script (`--expose-gc` for the idle GC). */
const UNIT_FLAGS = (() => {
  const words = (/^ExecStart=(.*)$/m.exec(readFileSync(join(ROOT, 'systemd/sopgate.service'), 'utf8'))?.[1] ?? '').trim().split(/\s+/).slice(1);
  const script = words.findIndex((w) => !w.startsWith('--'));
  return words.slice(0, script < 0 ? words.length : script);
})();

async function build(): Promise<string> {
  const bundle = join(tmp, 'dist/sopgate.cjs');
  const child = track(spawn(process.execPath, [join(ROOT, 'build.mjs'), '--outfile', bundle], { cwd: ROOT, stdio: 'inherit' }));
  const [code] = await once(child, 'exit');
  if (code !== 0) throw new Error(`build.mjs exited ${code}`);
  return bundle;
}


interface Gateway {
  proc: ChildProcess;
  http: number;
  mqtt: number;
}

const READY = /ready: HTTP on 127\.0\.0\.1:(\d+), MQTT on 127\.0\.0\.1:(\d+),/;

/** A workspace with `sops` (name → [SOP.toml body, SOP.md]) and `boards` (file → profile text), and its gateway started. */
async function startGateway(bundle: string, name: string, sops: Record<string, [string, string]>, boards: Record<string, string>, env: NodeJS.ProcessEnv = {}): Promise<Gateway> {
  const dir = join(tmp, name);
  for (const [sop, [toml, md]] of Object.entries(sops)) {
    mkdirSync(join(dir, 'sops', sop), { recursive: true });
    writeFileSync(join(dir, 'sops', sop, 'SOP.toml'), `[sop]\nname = "${sop}"\ndescription = "bench ${sop}"\n${toml}`);
    writeFileSync(join(dir, 'sops', sop, 'SOP.md'), md);
  }
  for (const [file, text] of Object.entries(boards)) writeFileSync(join(dir, file), text);
  const list = Object.keys(boards).map((f) => JSON.stringify(f)).join(', ');
  const config = join(dir, 'sopgate.toml');
  writeFileSync(config, `state_dir = "state"\nboards = [${list}]\n\n[http]\nlisten = "127.0.0.1:0"\ntoken = "${TOKEN}"\nrate_limit_per_minute = 0\n\n[mqtt]\nlisten = "127.0.0.1:0"\n${args.synchronous === undefined ? '' : `\n[store]\nsynchronous = "${args.synchronous}"\n`}`);
  // The native packages stay outside the bundle; info level (a line per run event) as in production.
  const childEnv: NodeJS.ProcessEnv = { ...process.env, NODE_PATH: join(ROOT, 'node_modules'), ...env };
  delete childEnv.SOPGATE_LOG_LEVEL;
  delete childEnv.NOTIFY_SOCKET;
  const proc = track(spawn(process.execPath, [...UNIT_FLAGS, ...PROFILE_FLAGS, bundle, 'daemon', '--config', config], { cwd: dir, env: childEnv, stdio: ['ignore', 'pipe', 'inherit'] }));
  const match = await new Promise<RegExpExecArray>((resolve, reject) => {
    let seen = '';
    const onData = (chunk: Buffer) => {
      seen += chunk.toString('utf8');
      const m = READY.exec(seen);
      if (m === null) return;
      proc.stdout!.off('data', onData);
      proc.stdout!.resume(); // drained and dropped from here on
      resolve(m);
    };
    proc.stdout!.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`the gateway exited (${code}) before it was ready:\n${seen}`)));
  });
  return { proc, http: Number(match[1]), mqtt: Number(match[2]) };
}

async function stop(gw: Gateway): Promise<void> {
  if (gw.proc.exitCode !== null) return;
  const exited = once(gw.proc, 'exit');
  gw.proc.kill('SIGTERM');
  await exited;
}

const api = (gw: Gateway, method: string, path: string, body?: string) =>
  fetch(`http://127.0.0.1:${gw.http}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}` }, ...(body === undefined ? {} : { body }), signal: AbortSignal.timeout(10_000) });

async function metrics(gw: Gateway): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await (await api(gw, 'GET', '/metrics')).text()).split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return out;
}

async function signalsUp(gw: Gateway, count: number): Promise<void> {
  for (let waited = 0; waited < 10_000; waited += 20) {
    const signals = (await (await api(gw, 'GET', '/api/peripherals')).json()) as { state: string }[];
    if (signals.filter((s) => s.state === 'up').length === count) return;
    await sleep(20);
  }
  throw new Error('the board signals did not come up');
}

const LOG_MD = (message: string) => `# Bench\n\n## Steps\n\n1. **Log**\n\n   \`\`\`log\n   message = "${message}"\n   \`\`\`\n`;
const AUTO = 'execution_mode = "auto"\nmax_concurrent = 1000000\n';
const peripheral = (board: string, signal: string, condition: string) => `\n[[triggers]]\ntype = "peripheral"\nboard = "${board}"\nsignal = "${signal}"\ncondition = "${condition}"\n`;

// --- 1. serial lines → runs ---------------------------------------------------------------

async function serialThroughput(bundle: string): Promise<void> {
  const [a, b] = [join(tmp, 'uart-gw'), join(tmp, 'uart-dev')];
  const socat = track(await ptyPair(a, b));
  const profile = `[board]\nname = "lab"\n\n[signals.uart]\ntype = "serial"\npath = "${a}"\nbaud = 115200\nformat = "kv"\nkeys = ["co2"]\n`;
  const gw = await startGateway(bundle, 'serial', { 'co2-high': [AUTO + peripheral('lab', 'co2', '> 1500'), LOG_MD('co2 {{payload}} ppm')] }, { 'lab.toml': profile });
  await signalsUp(gw, 1);
  const completedOf = (m: Map<string, number>) => m.get('sopgate_runs_finished_total{status="completed"}') ?? 0;
  const eventsOf = (m: Map<string, number>) => m.get('sopgate_peripheral_events_total{board="lab",signal="uart"}') ?? 0;

  /** Writes LINES lines into the device end; milliseconds until `done` holds (or 2.5 s pass without progress), and the metrics then. */
  const pass = async (name: string, line: (i: number) => string, done: (m: Map<string, number>) => number, goal: number) => {
    const file = join(tmp, `${name}.txt`);
    writeFileSync(file, Array.from({ length: LINES }, (_, i) => `${line(i)}\r\n`).join(''));
    const started = performance.now();
    const writer = track(spawn('sh', ['-c', 'cat "$1" > "$2"', 'sh', file, b], { stdio: 'inherit' }));
    const written = once(writer, 'exit');
    let m = await metrics(gw);
    let ms = 0;
    for (let last = -1, still = 0; done(m) < goal && still < 250; ) {
      await sleep(10);
      m = await metrics(gw);
      ms = performance.now() - started;
      still = done(m) === last ? still + 1 : 0;
      last = done(m);
    }
    await written;
    return { ms, m };
  };

  // Every other reading is above the threshold: half the lines start a run.
  const runs = LINES / 2;
  const withRuns = await pass('runs', (i) => `co2=${i % 2 === 0 ? 1600 + (i % 400) : 400 + (i % 400)}`, completedOf, runs);
  const rate = LINES / (withRuns.ms / 1000);
  const dropped = (m: Map<string, number>) => [...m].filter(([k]) => k.startsWith('sopgate_serial_lines_dropped_total')).reduce((n, [, v]) => n + v, 0);
  console.log(
    `serial lines → matcher → runs: ${LINES.toLocaleString('en')} lines (${runs.toLocaleString('en')} start a run) in ${(withRuns.ms / 1000).toFixed(2)} s: ` +
      `${Math.round(rate).toLocaleString('en')} lines/s, ${Math.round(completedOf(withRuns.m) / (withRuns.ms / 1000)).toLocaleString('en')} runs/s persisted as completed ` +
      `(target ≥ ${LINES_TARGET.toLocaleString('en')} lines/s: ${rate >= LINES_TARGET ? 'met' : 'NOT met'})`,
  );
  console.log(
    `  events ${eventsOf(withRuns.m).toLocaleString('en')} (lost ${LINES - eventsOf(withRuns.m)}), dropped ${dropped(withRuns.m)}, ` +
      `runs started ${withRuns.m.get('sopgate_runs_started_total')}, completed ${completedOf(withRuns.m)}`,
  );
  // The same lines all below the threshold: reader and matcher alone, what the runs cost by difference.
  const matchOnly = await pass('match-only', (i) => `co2=${400 + (i % 400)}`, eventsOf, 2 * LINES);
  console.log(
    `  the same ${LINES.toLocaleString('en')} lines, none starting a run: ${Math.round(LINES / (matchOnly.ms / 1000)).toLocaleString('en')} lines/s ` +
      `(lost ${2 * LINES - eventsOf(matchOnly.m)}, dropped ${dropped(matchOnly.m)})`,
  );
  if (eventsOf(matchOnly.m) !== 2 * LINES || dropped(matchOnly.m) !== 0 || completedOf(matchOnly.m) !== runs) {
    console.error('  lines or runs were lost');
    process.exitCode = 1;
  }
  await stop(gw);
  socat.kill();
}

// --- 2. press → run persisted -------------------------------------------------------------

async function pressLatency(bundle: string): Promise<void> {
  const profile = `[board]\nname = "panel"\ngpio = "sim"\n\n[signals.button]\ntype = "gpio_in"\nline = "GPIO17"\ndebounce_ms = 0\n`;
  const sops: Record<string, [string, string]> = {
    press: [AUTO + peripheral('panel', 'button', '> 0'), LOG_MD('pressed')],
    hook: [`${AUTO}\n[[triggers]]\ntype = "webhook"\npath = "/sop/press"\n`, LOG_MD('hooked')],
  };
  const gw = await startGateway(bundle, 'press', sops, { 'panel.toml': profile });
  const client = await connectAsync(`mqtt://127.0.0.1:${gw.mqtt}`);
  let arrived: (() => void) | null = null;
  client.on('message', () => arrived?.());
  await client.subscribeAsync('sopgate/runs/+/started');
  /** Milliseconds from sending `request` until its run's `started` event arrives. */
  const timed = async (request: () => Promise<Response>): Promise<number> => {
    const started = new Promise<void>((resolve) => (arrived = resolve));
    const t0 = performance.now();
    const sent = request();
    await started;
    const ms = performance.now() - t0;
    if (!(await sent).ok) throw new Error('the request was refused');
    return ms;
  };
  const presses: number[] = [];
  const hooks: number[] = [];
  // Interleaved, so that both see the same machine: the webhook is the same HTTP round
  // trip into a run without the board, the baseline the press is compared with.
  for (let i = 0; i < PRESS_WARMUP + PRESSES; i++) {
    const press = await timed(() => api(gw, 'POST', '/api/sim/panel/button', '1'));
    await api(gw, 'POST', '/api/sim/panel/button', '0');
    const hook = await timed(() => api(gw, 'POST', '/sop/press', '1'));
    if (i < PRESS_WARMUP) continue;
    presses.push(press);
    hooks.push(hook);
  }
  const q = (times: number[], p: number) => [...times].sort((x, y) => x - y)[Math.min(times.length - 1, Math.floor(p * times.length))]!;
  const fmt = (times: number[]) => `p50 ${q(times, 0.5).toFixed(2)} ms, p99 ${q(times, 0.99).toFixed(2)} ms, max ${Math.max(...times).toFixed(2)} ms`;
  console.log(
    `simulated press → run persisted (POST /api/sim → MQTT started), ${PRESSES} presses after ${PRESS_WARMUP} warm-up: ${fmt(presses)} ` +
      `(p99 target ≤ ${P99_TARGET_MS} ms: ${q(presses, 0.99) <= P99_TARGET_MS ? 'met' : 'NOT met'})`,
  );
  console.log(`  baseline, interleaved: webhook POST /sop/press → MQTT started: ${fmt(hooks)}`);
  await client.endAsync();
  await stop(gw);
}

// --- 3. idle RSS with and without a board ---------------------------------------------------

function rssMiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
}

/** libgpiod's tools faked (test/fixtures/fake-gpiod.cjs), first on PATH. */
function fakeGpiod(): NodeJS.ProcessEnv {
  const bin = join(tmp, 'gpiod-bin');
  const state = join(tmp, 'gpiod-state');
  mkdirSync(bin, { recursive: true });
  mkdirSync(join(state, 'procs'), { recursive: true });
  for (const tool of ['gpiomon', 'gpioset', 'gpioinfo']) {
    writeFileSync(join(bin, tool), `#!${process.execPath}\nrequire(${JSON.stringify(join(ROOT, 'test/fixtures/fake-gpiod.cjs'))});\n`);
    chmodSync(join(bin, tool), 0o755);
  }
  return { PATH: `${bin}:${process.env.PATH}`, FAKE_GPIOD_VERSION: '2.1.3', FAKE_GPIOD_STATE: state };
}

async function idleRss(bundle: string): Promise<void> {
  const [a, b] = [join(tmp, 'rss-gw'), join(tmp, 'rss-dev')];
  const socat = track(await ptyPair(a, b));
  const profile =
    `[board]\nname = "panel"\ngpio = "gpiod"\n\n` +
    `[signals.button]\ntype = "gpio_in"\nline = "GPIO17"\nbias = "pull-up"\nactive_low = true\n\n` +
    `[signals.door]\ntype = "gpio_in"\nline = "GPIO5"\n\n` +
    `[signals.lamp]\ntype = "gpio_out"\nline = "GPIO27"\n\n` +
    `[signals.relay]\ntype = "gpio_out"\nline = "GPIO22"\n\n` +
    `[signals.uart]\ntype = "serial"\npath = "${a}"\nbaud = 115200\nformat = "json"\n`;
  const sops: Record<string, [string, string]> = {
    pressed: [AUTO + peripheral('panel', 'button', '> 0'), LOG_MD('pressed')],
    co2: [AUTO + peripheral('panel', 'uart', '$.ppm > 1500'), LOG_MD('co2 {{payload.ppm}}')],
  };
  const env = fakeGpiod();
  const [bare, boards] = await Promise.all([startGateway(bundle, 'rss-bare', sops, {}, env), startGateway(bundle, 'rss-boards', sops, { 'panel.toml': profile }, env)]);
  await signalsUp(boards, 5);
  await sleep(IDLE_SECS * 1000);
  const [without, withBoards] = [rssMiB(bare.proc.pid!), rssMiB(boards.proc.pid!)];
  const diff = withBoards - without;
  console.log(
    `idle RSS ${IDLE_SECS} s after ready: without boards ${without.toFixed(1)} MiB, with one profile of 4 GPIO signals (gpiod) and 1 serial signal ${withBoards.toFixed(1)} MiB: ` +
      `${diff >= 0 ? '+' : ''}${diff.toFixed(1)} MiB (target ≤ ${RSS_TARGET_MIB} MiB more: ${diff <= RSS_TARGET_MIB ? 'met' : 'NOT met'})`,
  );
  await Promise.all([stop(bare), stop(boards)]);
  socat.kill();
}

try {
  console.log(`sopgate hardware bench: node ${process.version}, ${cpus().length} cores`);
  const bundle = await build();
  const run = (part: string) => args.only === undefined || args.only === part;
  if (run('serial')) await serialThroughput(bundle);
  if (run('press')) await pressLatency(bundle);
  if (run('rss')) await idleRss(bundle);
} finally {
  for (const child of children) child.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
}
