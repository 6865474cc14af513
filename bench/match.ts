// Matcher benchmark: prints figures, asserts nothing but agreement. `npm run bench:match`.
//
// 1,000 SOPs with mqtt triggers in plant-floor shapes, ~200-byte JSON sensor payloads
// on a rotating set of topics, then: compiled Matcher events/s against the naive scan
// (referenceMatch: every trigger, reparsing payload and condition each time), the
// index's heap size, and the time to load 1,000 real SOP folders from disk.
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { GatewayEvent } from '../src/core/events.js';
import { Matcher } from '../src/match/matcher.js';
import { referenceMatch } from '../src/match/reference.js';
import { loadSops } from '../src/sop/load.js';
import type { SopDefinition, Trigger } from '../src/sop/types.js';
import { prng } from './prng.js';

const SOP_COUNT = 1000;
const SITES = 8;
const LINES = 6;
const SENSORS = 12;
const METRICS = ['temp', 'pressure', 'vibration', 'humidity'] as const;
const CONDITIONS = ['$.value >= 85', '$.status == "critical"', '$.readings.0 < 10', '$.meta.battery <= 20', '$.value != 0'];
const TARGET_RATIO = 50;
const TARGET_RATE = 200_000;

const random = prng(42); // the same workload every run
const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
const int = (n: number): number => Math.floor(random() * n);
const site = (): string => `site${int(SITES)}`;
const line = (): string => `line${int(LINES)}`;
const sensor = (): string => `sensor${String(int(SENSORS)).padStart(2, '0')}`;

/** A filter in one of the shapes plant SOPs use: mostly exact, some `+`, a few `#`. */
function filter(): string {
  const r = random();
  if (r < 0.7) return `plant/${site()}/${line()}/${sensor()}/${pick(METRICS)}`;
  if (r < 0.74) return `plant/+/${line()}/+/${pick(METRICS)}`;
  if (r < 0.82) return `plant/${site()}/+/${sensor()}/+`;
  if (r < 0.9) return `plant/${site()}/${line()}/+/${pick(METRICS)}`;
  if (r < 0.95) return `plant/${site()}/${line()}/#`;
  if (r < 0.98) return `alerts/${pick(['critical', 'warning'])}/+`;
  if (r < 0.99) return 'alerts/#';
  return `plant/${site()}/#`;
}

function benchSops(): { name: string; topic: string; condition?: string }[] {
  return Array.from({ length: SOP_COUNT }, (_, i) => {
    const name = `sop-${String(i).padStart(4, '0')}`;
    const topic = filter();
    return i % 2 === 0 ? { name, topic, condition: pick(CONDITIONS) } : { name, topic };
  });
}

function definition(spec: { name: string; topic: string; condition?: string }): SopDefinition {
  const trigger: Trigger = spec.condition === undefined ? { type: 'mqtt', topic: spec.topic } : { type: 'mqtt', topic: spec.topic, condition: spec.condition };
  const steps = [{ number: 1, title: 'Check', body: 'Look at the sensor.', suggested_tools: [], requires_confirmation: false, action: null, on_failure: { policy: 'fail' as const }, timeout_secs: null }];
  return { name: spec.name, description: `Bench SOP ${spec.name}`, version: '1.0.0', priority: 'normal', execution_mode: 'auto', cooldown_secs: 0, max_concurrent: 1, triggers: [trigger], steps, location: `/bench/${spec.name}` };
}

/** A ~200-byte reading like an ESP32 sensor node publishes. */
function payload(sensorName: string, value: number): string {
  const readings = [value - 4.2, value - 1.1, value, value + 0.7].map((v) => Number(v.toFixed(1)));
  return JSON.stringify({
    sensor: sensorName,
    ts: new Date(Date.UTC(2025, 0, 1, 0, 0, int(86400))).toISOString(),
    value: Number(value.toFixed(1)),
    unit: 'C',
    model: 'DS18B20-PAR',
    status: value > 95 ? 'critical' : value > 80 ? 'warning' : 'ok',
    readings,
    meta: { fw: '1.4.2', battery: int(100), rssi: -40 - int(50), seq: int(100000) },
  });
}

/** A rotating set: mostly sensor readings (few matches each), some alerts (many matches). */
function benchEvents(count: number): GatewayEvent[] {
  return Array.from({ length: count }, () => {
    const s = sensor();
    const r = random();
    const topic =
      r < 0.9
        ? `plant/${site()}/${line()}/${s}/${pick(METRICS)}`
        : r < 0.97
          ? `alerts/${pick(['critical', 'warning'])}/${site()}`
          : `office/${s}/temp`; // matches nothing
    return { source: 'mqtt', topic, payload: payload(s, 20 + random() * 85), timestamp: '2025-01-01T00:00:00.000Z' };
  });
}

/** Runs `fn` over the events for about `ms`, after a short warm-up; events per second. */
function rate(events: readonly GatewayEvent[], fn: (e: GatewayEvent) => string[], ms: number): { perSec: number; sink: number } {
  let sink = 0;
  const run = (budget: number): { count: number; elapsed: number } => {
    const start = performance.now();
    let count = 0;
    let elapsed = 0;
    // Check the clock every 64 events so timing stays out of the measured work.
    while (elapsed < budget) {
      for (let k = 0; k < 64; k++) sink += fn(events[(count + k) % events.length]!).length;
      count += 64;
      elapsed = performance.now() - start;
    }
    return { count, elapsed };
  };
  run(ms / 4);
  const { count, elapsed } = run(ms);
  return { perSec: (count / elapsed) * 1000, sink };
}

/** global.gc when node runs with --expose-gc; otherwise switch the flag on at run time. */
function gcFunction(): () => void {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (existing !== undefined) return existing;
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc') as () => void;
}

function heapUsed(gc: () => void): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

async function writeWorkspace(dir: string, specs: ReturnType<typeof benchSops>): Promise<void> {
  await Promise.all(
    specs.map(async (spec) => {
      const folder = join(dir, spec.name);
      await mkdir(folder);
      const condition = spec.condition === undefined ? '' : `condition = ${JSON.stringify(spec.condition)}\n`;
      const toml =
        `[sop]\nname = "${spec.name}"\ndescription = "Handle ${spec.topic}"\nversion = "1.0.0"\npriority = "high"\n` +
        `execution_mode = "supervised"\ncooldown_secs = 300\n\n[[triggers]]\ntype = "mqtt"\ntopic = "${spec.topic}"\n${condition}\n` +
        `[[triggers]]\ntype = "manual"\n`;
      const md =
        `# ${spec.name}\n\nWhat to do when ${spec.topic} reports trouble.\n\n## Steps\n\n` +
        `1. **Check the reading** — Compare with the neighbouring sensors.\n   - tools: shell\n\n   \`\`\`shell\n   echo "$SOP_PAYLOAD"\n   \`\`\`\n\n` +
        `2. **Notify** — Tell the shift lead.\n   - tools: mqtt_publish\n   - requires_confirmation: true\n\n   \`\`\`mqtt_publish\n   topic = "ops/notify"\n   payload = "check ${spec.name}"\n   \`\`\`\n\n` +
        `3. **Inspect on site** — Walk to the line and look.\n`;
      await writeFile(join(folder, 'SOP.toml'), toml);
      await writeFile(join(folder, 'SOP.md'), md);
    }),
  );
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const ms = (n: number): string => `${n.toFixed(1)} ms`;

async function main(): Promise<void> {
  const gc = gcFunction();
  const specs = benchSops();
  const sops = specs.map(definition);
  const events = benchEvents(4096);
  console.log(`sopgate matcher bench — node ${process.version}, ${process.arch}`);
  console.log(`${SOP_COUNT} SOPs (one mqtt trigger each, half with conditions), ${events.length} rotating events, payload ~${Math.round(events.reduce((n, e) => n + (e.payload?.length ?? 0), 0) / events.length)} bytes`);

  const before = heapUsed(gc);
  const buildStart = performance.now();
  const matcher = Matcher.build(sops);
  const buildMs = performance.now() - buildStart;
  const after = heapUsed(gc);

  // Agreement first: a fast wrong answer is worth nothing.
  let total = 0;
  let most = 0;
  for (const event of events) {
    const fast = matcher.match(event);
    const slow = referenceMatch(sops, event);
    if (JSON.stringify(fast) !== JSON.stringify(slow)) {
      console.error(`DISAGREEMENT on ${event.topic}: matcher ${JSON.stringify(fast)} vs reference ${JSON.stringify(slow)}`);
      process.exitCode = 1;
      return;
    }
    total += fast.length;
    most = Math.max(most, fast.length);
  }
  const counts = events.map((e) => matcher.match(e).length).sort((a, b) => a - b);
  const hot = counts.filter((n) => n >= 10).length;
  console.log(
    `agreement: Matcher == referenceMatch on all ${events.length} events ` +
      `(matches per event: mean ${(total / events.length).toFixed(2)}, median ${counts[counts.length >> 1]}, max ${most}; ${hot} events match ≥10 SOPs)`,
  );

  const compiled = rate(events, (e) => matcher.match(e), 1500);
  const naive = rate(events, (e) => referenceMatch(sops, e), 1500);
  const ratio = compiled.perSec / naive.perSec;
  console.log('');
  console.log(`compiled Matcher : ${fmt(compiled.perSec).padStart(11)} events/s  (${(1e6 / compiled.perSec).toFixed(2)} µs/event)`);
  console.log(`naive scan       : ${fmt(naive.perSec).padStart(11)} events/s  (${(1e6 / naive.perSec).toFixed(2)} µs/event)`);
  console.log(`ratio            : ${ratio.toFixed(0)}×  (target ≥ ${TARGET_RATIO}×: ${ratio >= TARGET_RATIO ? 'yes' : 'NO'})`);
  console.log(`≥ ${fmt(TARGET_RATE)} events/s: ${compiled.perSec >= TARGET_RATE ? 'yes' : 'NO'}`);
  console.log(`index            : ${((after - before) / 1024).toFixed(0)} KiB heap for ${matcher.info.mqttFilters} filters, built in ${ms(buildMs)}`);
  if (compiled.sink < 0 || naive.sink < 0) console.log('unreachable'); // keeps the results observable

  const dir = await mkdtemp(join(tmpdir(), 'sopgate-bench-'));
  try {
    await writeWorkspace(dir, specs);
    const options = { defaultExecutionMode: 'supervised', timezone: 'UTC' } as const;
    const loadTimes: number[] = [];
    let loaded: Awaited<ReturnType<typeof loadSops>> = [];
    // A cold first load (page cache just written, modules cold) and one warm one.
    for (let i = 0; i < 2; i++) {
      const start = performance.now();
      loaded = await loadSops(dir, options);
      loadTimes.push(performance.now() - start);
    }
    const errors = loaded.reduce((n, l) => n + l.errors.length, 0);
    const startBuild = performance.now();
    const fromDisk = Matcher.build(loaded.map((l) => l.sop));
    const diskBuildMs = performance.now() - startBuild;
    const sample = events.slice(0, 256);
    const same = sample.every((e) => JSON.stringify(fromDisk.match(e)) === JSON.stringify(matcher.match(e)));
    console.log(
      `load             : ${loaded.length} SOP folders (SOP.toml + SOP.md, ${errors} errors) in ${ms(loadTimes[0]!)} first, ${ms(loadTimes[1]!)} warm; ` +
        `Matcher.build ${ms(diskBuildMs)}; same matches as in memory: ${same ? 'yes' : 'NO'}`,
    );
    if (!same || loaded.length !== SOP_COUNT) process.exitCode = 1;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
