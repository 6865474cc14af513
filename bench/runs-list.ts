// Run list benchmark: prints figures, asserts nothing. `npm run bench:runs-list`.
//
// Fills a real SQLite file with `--runs` runs (default 1,000) whose trigger payload is
// 64 KiB and whose one step failed with 64 KiB of output (control bytes included), then
// asks a real HttpApi on port 0 for `GET /api/runs?limit=<runs>` and one
// `GET /api/runs/<id>`, each three times. For each: the answer's size, the wall time of
// the request, the time the handler held the event loop (the HTTP log line's duration)
// and the longest event-loop delay seen while it ran.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { buildConfig } from '../src/config/config.js';
import { systemClock } from '../src/core/clock.js';
import { Engine } from '../src/engine/engine.js';
import type { Executor } from '../src/executors/types.js';
import { HttpApi } from '../src/http/index.js';
import { createLogger } from '../src/core/log.js';
import { Dispatcher } from '../src/dispatch/dispatcher.js';
import { Matcher } from '../src/match/matcher.js';
import { newStep, type SopDefinition } from '../src/sop/types.js';
import { IdempotencyStore } from '../src/store/idempotency.js';
import { RunStore } from '../src/store/run-store.js';

const KIB64 = 65_536;
const TOKEN = 'bench-token';
const ROUNDS = 3;

const args = parseArgs({ options: { runs: { type: 'string', default: '1000' } } }).values;
const RUNS = Number(args.runs);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error('--runs must be a whole number ≥ 1');

/** 64 KiB of text with a few control bytes, as a noisy command's output would have. */
function noisy(seed: number): string {
  const line = `line ${seed} \x1b[31mred\x1b[0m \x00 tab\there ${'x'.repeat(40)}\n`;
  return line.repeat(Math.ceil(KIB64 / line.length)).slice(0, KIB64);
}

const failing: Executor = { run: (_action, ctx) => Promise.resolve({ status: 'failed', output: noisy(ctx.stepNumber) }) };

const sop: SopDefinition = {
  name: 'noisy',
  description: 'fails with 64 KiB of output',
  version: '1.0.0',
  priority: 'normal',
  execution_mode: 'auto',
  cooldown_secs: 0,
  max_concurrent: RUNS,
  triggers: [{ type: 'manual' }],
  steps: [newStep(1, { title: 'Fail loudly', action: { tool: 'shell', source: 'false', args: {} } })],
  location: tmpdir(),
};

const dir = mkdtempSync(join(tmpdir(), 'sopgate-bench-runs-list-'));
const lines: string[] = [];
const logger = createLogger({ level: 'debug', write: (line) => lines.push(line) });
const quiet = createLogger({ write: () => {} });
const store = RunStore.open(join(dir, 'bench.db'));
const engine = new Engine({
  store,
  clock: systemClock,
  logger: quiet,
  executors: { shell: failing },
  maxConcurrentTotal: RUNS,
  approvalTimeoutSecs: 0,
});
engine.setSops([sop]);
engine.start();

const fillStart = performance.now();
const finished = new Promise<void>((resolve) => {
  let n = 0;
  engine.onEvent((e) => {
    if (e.kind === 'failed' && ++n === RUNS) resolve();
  });
});
for (let i = 0; i < RUNS; i++) {
  await engine.startRun(sop.name, { source: 'manual', topic: sop.name, payload: noisy(i), timestamp: new Date().toISOString() });
}
await finished;
console.log(`filled ${RUNS} runs (64 KiB payload, one failed step with 64 KiB output) in ${((performance.now() - fillStart) / 1000).toFixed(1)} s`);

const defaults = buildConfig('', null, dir);
if (!defaults.ok) throw new Error('default config does not build');
const api = new HttpApi({
  engine,
  sops: () => [sop],
  dispatcher: new Dispatcher({ matcher: () => Matcher.build([sop]), engine, logger }),
  http: { ...defaults.config.http, rate_limit_per_minute: 0 },
  token: TOKEN,
  idempotency: new IdempotencyStore(store.db, systemClock),
  clock: systemClock,
  logger,
  metrics: () => '',
});
const { port } = await api.start('127.0.0.1:0');
const base = `http://127.0.0.1:${port}`;

async function measure(path: string): Promise<void> {
  for (let round = 1; round <= ROUNDS; round++) {
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    lines.length = 0;
    const start = performance.now();
    const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const body = Buffer.from(await res.arrayBuffer());
    const wall = performance.now() - start;
    delay.disable();
    const handler = /200 ([\d.]+)ms/.exec(lines.find((l) => l.includes(' 200 ')) ?? '')?.[1] ?? '?';
    console.log(
      `GET ${path} (round ${round}): ${res.status}, ${(body.length / 1024).toFixed(1)} KiB, ` +
        `${wall.toFixed(1)} ms wall, handler ${handler} ms, longest event-loop delay ${(delay.max / 1e6).toFixed(1)} ms`,
    );
  }
}

try {
  await measure(`/api/runs?limit=${RUNS}`);
  const newest = engine.listRuns({ limit: 1 })[0]!.run_id;
  await measure(`/api/runs/${newest}`);
} finally {
  await api.stop();
  engine.stop();
  store.close();
  rmSync(dir, { recursive: true, force: true });
}
