// An engine on a real SQLite file in a temp folder, with a manual clock and executors
// the test controls.
import { fdatasync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from './clock.js';
import { Engine, type EngineOptions } from '../../src/engine/engine.js';
import type { RunEvent } from '../../src/core/run.js';
import type { Executor, StepContext, StepOutcome } from '../../src/executors/types.js';
import { memoryLogger } from './logger.js';
import { newStep, type ExecutionMode, type Priority, type SopDefinition, type Step, type StepAction, type Trigger } from '../../src/sop/types.js';
import { openDatabase } from '../../src/store/db.js';
import { RunStore } from '../../src/store/run-store.js';
import { WalSync } from '../../src/store/wal-sync.js';
import { WAIT_MS, withTimeout } from './process.js';

export function step(number: number, extra: Partial<Step> = {}): Step {
  return newStep(number, { title: `Step ${number}`, ...extra });
}

/** A built-in step whose `log` action the test executor runs. */
export function builtin(number: number, message = `step ${number}`, extra: Partial<Step> = {}): Step {
  const action: StepAction = { tool: 'log', source: `message = "${message}"`, args: { message, level: 'info' } };
  return step(number, { action, ...extra });
}

/** A SOP definition as the loader would make it: one step and a manual trigger unless told. */
export function sop(name: string, options: {
  mode?: ExecutionMode;
  priority?: Priority;
  steps?: Step[];
  cooldown?: number;
  maxConcurrent?: number;
  triggers?: Trigger[];
} = {}): SopDefinition {
  return {
    name,
    description: `${name} procedure`,
    version: '1.0.0',
    priority: options.priority ?? 'normal',
    execution_mode: options.mode ?? 'auto',
    cooldown_secs: options.cooldown ?? 0,
    max_concurrent: options.maxConcurrent ?? 1,
    triggers: options.triggers ?? [{ type: 'manual' }],
    steps: options.steps ?? [step(1)],
    location: '/tmp',
  };
}

/**
 * An executor whose runs wait until the test settles them; `auto` answers at once with
 * the action's message (or the scripted outcomes, in order).
 */
export class TestExecutor implements Executor {
  readonly calls: { message: string; ctx: StepContext; settle: (o: StepOutcome) => void }[] = [];
  auto: boolean;
  readonly script: StepOutcome[] = [];

  constructor(auto = true) {
    this.auto = auto;
  }

  run(action: StepAction, ctx: StepContext): Promise<StepOutcome> {
    return new Promise((resolve) => {
      const message = 'message' in action.args ? String(action.args.message) : '';
      this.calls.push({ message, ctx, settle: resolve });
      if (this.auto) resolve(this.script.shift() ?? { status: 'completed', output: message });
    });
  }
}

export interface EngineHarness {
  engine: Engine;
  store: RunStore;
  clock: ManualClock;
  executor: TestExecutor;
  events: RunEvent[];
  file: string;
  reopen(): EngineHarness;
  close(): void;
}

export function harness(
  dir: string,
  sops: SopDefinition[],
  { maxFinishedRuns, ...options }: Partial<EngineOptions> & { clock?: ManualClock; executor?: TestExecutor; maxFinishedRuns?: number } = {},
): EngineHarness {
  const file = join(dir, 'sopgate.db');
  const store = options.store ?? RunStore.open(file, maxFinishedRuns === undefined ? {} : { maxFinishedRuns });
  const clock = options.clock ?? new ManualClock();
  const executor = options.executor ?? new TestExecutor();
  const engine = new Engine({
    store,
    clock,
    logger: memoryLogger(),
    executors: { log: executor },
    maxConcurrentTotal: 5,
    approvalTimeoutSecs: 300,
    ...options,
  });
  engine.setSops(sops);
  const events: RunEvent[] = [];
  engine.onEvent((e) => events.push(e));
  engine.start();
  const h: EngineHarness = {
    engine,
    store,
    clock,
    executor,
    events,
    file,
    reopen() {
      engine.stop();
      store.close();
      const { store: _s, ...rest } = options;
      return harness(dir, sops, { ...rest, clock, executor });
    },
    close() {
      engine.stop();
      store.close();
    },
  };
  return h;
}

/** Lets queued promise callbacks (executor results) run. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}

export function manual(payload?: string) {
  return payload === undefined
    ? { source: 'manual' as const, timestamp: '2026-01-01T00:00:00.000Z' }
    : { source: 'manual' as const, payload, timestamp: '2026-01-01T00:00:00.000Z' };
}

/**
 * A store on `file` whose fdatasyncs wait until the test lets them return (`release`), or
 * until it stops holding them (`open`: what waits returns, and later ones sync at once).
 */
export function heldSyncStore(file: string) {
  const held: (() => void)[] = [];
  let asked: (() => void) | null = null;
  let holding = true;
  const store = new RunStore(
    openDatabase(file),
    new WalSync(file, (fd, done) => {
      if (!holding) return fdatasync(fd, done);
      held.push(() => done(null));
      asked?.();
    }),
  );
  /** Resolves once the store has asked for an fdatasync (at once if one is held). */
  const syncing = (): Promise<void> =>
    held.length > 0 ? Promise.resolve() : withTimeout(new Promise<void>((resolve) => (asked = resolve)), WAIT_MS, 'the store to ask for an fdatasync');
  const release = () => {
    for (const f of held.splice(0)) f();
  };
  /** Stops holding: what is held is released and later fdatasyncs run. */
  const open = () => {
    holding = false;
    release();
  };
  return { store, held, syncing, release, open };
}

/**
 * Makes `store`'s database full for real: `fill` caps its page count where it is and packs
 * the last ledger page, so the next change fails with SQLITE_FULL ("database or disk is
 * full") as on a full disk; `free` lifts the cap, as space returning would.
 */
export function fullDisk(store: RunStore) {
  const cap = store.db.pragma('max_page_count', { simple: true }) as number;
  return {
    fill(): void {
      store.db.pragma(`max_page_count = ${store.db.pragma('page_count', { simple: true }) as number}`);
      // Large rows, then the smallest possible: afterwards not even that fits.
      for (const detail of ['x'.repeat(1000), null]) {
        try {
          for (;;) store.appendLedger({ at: '', kind: 'filler', sop_name: null, run_id: null, step_number: null, actor: null, detail });
        } catch (err) {
          if ((err as { code?: string }).code !== 'SQLITE_FULL') throw err;
        }
      }
    },
    free(): void {
      store.db.pragma(`max_page_count = ${cap}`);
    },
  };
}
