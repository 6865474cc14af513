// Engine benchmark: prints figures, asserts nothing. `npm run bench:engine`.
//
// Run starts per second (auto SOP, one external step: start + persist), runs completed
// per second for a 3-step `log` SOP, each with SQLite synchronous=NORMAL and FULL, on a
// real database file in a temp folder. Then what one run costs the disk when runs arrive
// one at a time (each start and finish its own commit, as at a steady low rate): WAL pages
// written and CPU per run, keeping every finished run and at the default
// max_finished_runs = 1000, where every run past it is pruned. Last, the same with an
// upstream's outbox: every run event also written in its change's transaction, and
// deleted as soon as it is durable, as if a broker acknowledged it at once.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { systemClock } from '../src/core/clock.js';
import { Engine } from '../src/engine/engine.js';
import { createLogExecutor } from '../src/executors/log.js';
import { createLogger } from '../src/core/log.js';
import { newStep, type SopDefinition, type Step } from '../src/sop/types.js';
import type { Synchronous } from '../src/store/db.js';
import { OutboxStore } from '../src/store/outbox.js';
import { RunStore } from '../src/store/run-store.js';

const TARGET_STARTS = 10_000;
const quiet = createLogger({ write: () => {} });

function step(number: number, log: boolean): Step {
  const action = log ? ({ tool: 'log', source: '', args: { message: `step ${number} of {{run.id}}`, level: 'info' } } as const) : null;
  return newStep(number, { title: `Step ${number}`, action });
}

function sop(name: string, steps: Step[]): SopDefinition {
  return {
    name,
    description: name,
    version: '1.0.0',
    priority: 'normal',
    execution_mode: 'auto',
    cooldown_secs: 0,
    max_concurrent: 1_000_000,
    triggers: [{ type: 'manual' }],
    steps,
    location: tmpdir(),
  };
}

/** An outbox whose rows go as soon as they are durable: the upstream publisher with a broker that answers at once. */
function instantOutbox(store: RunStore): OutboxStore {
  const outbox = new OutboxStore(store.db, 100_000);
  let cursor = 0;
  let scheduled = false;
  outbox.onDurable(() => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      if (!store.db.open) return;
      const rows = outbox.next(cursor, 1_000_000);
      if (rows.length === 0) return;
      cursor = rows.at(-1)!.id;
      outbox.remove(rows.map((r) => r.id));
    });
  });
  return outbox;
}

function engineOn(
  dir: string,
  synchronous: Synchronous,
  maxFinishedRuns = 1_000_000,
  file = `bench-${synchronous}.db`,
  upstream = false,
): { engine: Engine; store: RunStore } {
  const store = RunStore.open(join(dir, file), { synchronous, maxFinishedRuns });
  const engine = new Engine({
    ...(upstream ? { outbox: instantOutbox(store) } : {}),
    store,
    clock: systemClock,
    logger: quiet,
    executors: { log: createLogExecutor({ clock: systemClock, logger: quiet }) },
    maxConcurrentTotal: 1_000_000,
    approvalTimeoutSecs: 0,
  });
  engine.setSops([sop('external', [step(1, false)]), sop('three-logs', [step(1, true), step(2, true), step(3, true)]), sop('one-log', [step(1, true)])]);
  engine.start();
  return { engine, store };
}

const event = () => ({ source: 'mqtt' as const, topic: 'sensors/site1/temp', payload: '{"value": 91.5, "unit": "F", "sensor": "cold-room-2"}', timestamp: new Date().toISOString() });

/** Starts `count` runs as fast as events could arrive; done when the last start is durable. */
async function measureStarts(engine: Engine, count: number): Promise<number> {
  const t0 = performance.now();
  const starts: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) {
    starts.push(engine.startRun('external', event()).then((r) => {
      if (!r.ok) throw new Error(r.message);
    }));
    // Events arrive from sockets, a few hundred per turn of the event loop at most.
    if (i % 200 === 199) await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(starts);
  return count / ((performance.now() - t0) / 1000);
}

async function measureCompleted(engine: Engine, count: number): Promise<number> {
  let done = 0;
  let resolveAll!: () => void;
  const all = new Promise<void>((resolve) => (resolveAll = resolve));
  const off = engine.onEvent((e) => {
    if (e.kind === 'completed' && ++done === count) resolveAll();
  });
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    void engine.startRun('three-logs', event()).then((r) => {
      if (!r.ok) throw new Error(r.message);
    });
    if (i % 200 === 199) await new Promise((resolve) => setImmediate(resolve));
  }
  await all;
  off();
  return count / ((performance.now() - t0) / 1000);
}

/** One run at a time, `count` of them, after `warm` more: WAL pages and CPU µs per run. */
async function costPerRun(dir: string, maxFinishedRuns: number, warm: number, count: number, upstream = false): Promise<{ pages: number; cpuMicros: number }> {
  const file = `one-at-a-time-${maxFinishedRuns}${upstream ? '-outbox' : ''}.db`;
  const { engine, store } = engineOn(dir, 'normal', maxFinishedRuns, file, upstream);
  const one = async () => {
    const completed = new Promise<void>((resolve) => {
      const off = engine.onEvent((e) => {
        if (e.kind !== 'completed') return;
        off();
        resolve();
      });
    });
    const r = await engine.startRun('one-log', event());
    if (!r.ok) throw new Error(r.message);
    await completed;
  };
  for (let i = 0; i < warm; i++) await one();
  // Nothing checkpoints while measuring: the WAL's growth is what the runs wrote.
  store.db.pragma('wal_checkpoint(TRUNCATE)');
  store.db.pragma('wal_autocheckpoint = 0');
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < count; i++) await one();
  const cpu = process.cpuUsage(cpu0);
  const pageSize = store.db.pragma('page_size', { simple: true }) as number;
  const walBytes = statSync(join(dir, `${file}-wal`)).size - 32; // the WAL header
  engine.stop();
  store.close();
  return { pages: walBytes / (pageSize + 24) / count, cpuMicros: (cpu.user + cpu.system) / count };
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sopgate-bench-engine-'));
  console.log(`sopgate engine bench — node ${process.version}, real SQLite files (WAL) in ${tmpdir()}`);
  try {
    const results: Record<string, { starts: number; completed: number }> = {};
    for (const synchronous of ['normal', 'full'] as const) {
      const { engine, store } = engineOn(dir, synchronous);
      await measureStarts(engine, 2_000); // warm-up
      await measureCompleted(engine, 500);
      const starts = await measureStarts(engine, synchronous === 'full' ? 3_000 : 20_000);
      const completed = await measureCompleted(engine, synchronous === 'full' ? 1_000 : 5_000);
      results[synchronous] = { starts, completed };
      engine.stop();
      store.close();
      console.log(
        `synchronous=${synchronous.toUpperCase().padEnd(6)}: ${fmt(starts).padStart(8)} run starts/s persisted (auto SOP, one external step)  ` +
          `${fmt(completed).padStart(7)} runs completed/s (3 log steps: ${fmt(completed * 5)} state changes/s)`,
      );
    }
    const normal = results.normal!;
    const full = results.full!;
    console.log(`NORMAL/FULL      : starts ${(normal.starts / full.starts).toFixed(1)}×, completed runs ${(normal.completed / full.completed).toFixed(1)}×`);
    console.log(`≥ ${fmt(TARGET_STARTS)} run starts/s with NORMAL: ${normal.starts >= TARGET_STARTS ? 'yes' : 'no'}`);
    const keepAll = await costPerRun(dir, 1_000_000, 1_500, 2_000);
    const pruned = await costPerRun(dir, 1_000, 1_500, 2_000);
    const perRun = (c: { pages: number; cpuMicros: number }) => `${c.pages.toFixed(1)} WAL pages, ${fmt(c.cpuMicros)} µs CPU`;
    console.log(`one run at a time (1 log step): ${perRun(keepAll)} per run keeping every finished run; ${perRun(pruned)} at max_finished_runs = 1000 (pruning ${(pruned.pages / keepAll.pages).toFixed(2)}× the pages)`);

    const outboxed: Record<string, number> = {};
    for (const synchronous of ['normal', 'full'] as const) {
      const { engine, store } = engineOn(dir, synchronous, 1_000_000, `bench-${synchronous}-outbox.db`, true);
      await measureCompleted(engine, 500);
      outboxed[synchronous] = await measureCompleted(engine, synchronous === 'full' ? 1_000 : 5_000);
      engine.stop();
      store.close();
    }
    const prunedOutbox = await costPerRun(dir, 1_000, 1_500, 2_000, true);
    console.log(
      `with an upstream's outbox: ${fmt(outboxed.normal!)} runs completed/s NORMAL (${(outboxed.normal! / normal.completed).toFixed(2)}× without), ` +
        `${fmt(outboxed.full!)} FULL (${(outboxed.full! / full.completed).toFixed(2)}×); one run at a time: ${perRun(prunedOutbox)} at max_finished_runs = 1000`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
