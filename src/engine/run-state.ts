// An active run in memory, and the unit of work the engine commits.
import type { GatewayEvent } from '../events.js';
import type { SopDefinition, Step } from '../sop/types.js';
import type { LedgerEntry, RunRecord } from '../store/run-store.js';
import type { TimerHandle } from './clock.js';
import type { Run, StepResult } from './types.js';
import { newRunId } from './run-id.js';
import { isoTime } from '../time.js';

export class RunState {
  /** Outputs of finished steps, for `{{steps.N.output}}`. */
  readonly outputs = new Map<number, string>();
  timer: TimerHandle | undefined;
  abort: AbortController | undefined;
  /** Bumped at each launch so a superseded attempt's result is ignored. */
  generation = 0;
  stepStartedAt: number | undefined;

  constructor(
    readonly record: RunRecord,
    /** The definition the run started with: a reload does not change it. */
    readonly sop: SopDefinition,
  ) {
    for (const r of record.step_results) this.outputs.set(r.step_number, r.output);
  }

  step(): Step | undefined {
    return this.sop.steps[this.record.current_step - 1];
  }

  putResult(result: StepResult): StepResult {
    const results = this.record.step_results;
    const at = results.findIndex((r) => r.step_number === result.step_number);
    if (at === -1) results.push(result);
    else results[at] = result;
    this.outputs.set(result.step_number, result.output);
    return result;
  }

  event(): GatewayEvent {
    const t = this.record.trigger_event;
    const event: GatewayEvent = { source: t.source, timestamp: t.timestamp };
    if (t.topic !== null) event.topic = t.topic;
    if (t.payload !== null) event.payload = t.payload;
    return event;
  }

  toRun(): Run {
    return publicRun(this.record);
  }
}

/** The record of a run that starts now, at step 1, with the definition stored under `sopHash`. */
export function newRunRecord(sop: SopDefinition, event: GatewayEvent, sopHash: string, now: number): RunRecord {
  return {
    run_id: newRunId(now),
    sop_name: sop.name,
    status: 'running',
    current_step: 1,
    total_steps: sop.steps.length,
    trigger_event: { source: event.source, topic: event.topic ?? null, payload: event.payload ?? null, timestamp: event.timestamp },
    started_at: isoTime(now),
    completed_at: null,
    waiting_since: null,
    step_results: [],
    reason: null,
    sop_hash: sopHash,
    phase: null,
    approved: false,
    attempt: 0,
  };
}

/** The run object of DESIGN.md §5, copied, without the store's bookkeeping. */
export function publicRun(r: RunRecord): Run {
  return {
    run_id: r.run_id,
    sop_name: r.sop_name,
    status: r.status,
    current_step: r.current_step,
    total_steps: r.total_steps,
    trigger_event: { ...r.trigger_event },
    started_at: r.started_at,
    completed_at: r.completed_at,
    waiting_since: r.waiting_since,
    step_results: r.step_results.map((s) => ({ ...s })),
    reason: r.reason,
  };
}

/** Everything one state change writes, and what to do once it is durable. */
export class Tx {
  readonly snapshots: [string, string][] = [];
  readonly created: RunState[] = [];
  readonly touched = new Set<RunState>();
  readonly results: [string, StepResult][] = [];
  readonly ledger: LedgerEntry[] = [];
  readonly cooldowns: [string, number][] = [];
  prune = 0;
  /** Steps run inline within this transaction (Engine.proceed bounds them). */
  inlineSteps = 0;
  private readonly effects: (() => void)[] = [];
  private readonly failures: ((err: unknown) => void)[] = [];

  touch(st: RunState): void {
    this.touched.add(st);
  }

  /** Nothing to write: only effects (a start that restored no run). */
  get empty(): boolean {
    return (
      this.snapshots.length === 0 &&
      this.created.length === 0 &&
      this.touched.size === 0 &&
      this.results.length === 0 &&
      this.ledger.length === 0 &&
      this.cooldowns.length === 0 &&
      this.prune === 0
    );
  }

  /** Runs `effect` once the transaction is durable; `onError` if it could not be written. */
  after(effect: () => void, onError?: (err: unknown) => void): void {
    this.effects.push(effect);
    if (onError !== undefined) this.failures.push(onError);
  }

  done(): void {
    for (const effect of this.effects) effect();
  }

  fail(err: unknown): void {
    for (const onError of this.failures) onError(err);
  }
}
