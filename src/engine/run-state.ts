// An active run in memory, and the unit of work the engine commits.
import type { GatewayEvent } from '../core/events.js';
import type { SopDefinition, Step } from '../sop/types.js';
import type { LedgerEntry, RunRecord } from '../store/run-store.js';
import type { TimerHandle } from '../core/clock.js';
import type { Run, RunEventKind, StepResult } from '../core/run.js';
import { newRunId } from './run-id.js';
import { isoTime } from '../core/time.js';

/** What a change may alter of a run: put back as it was if the change cannot be written. */
interface RunImage {
  record: RunRecord;
  stepStartedAt: number | undefined;
}

export class RunState {
  /** Outputs of finished steps, for `{{steps.N.output}}`. */
  readonly outputs = new Map<number, string>();
  timer: TimerHandle | undefined;
  abort: AbortController | undefined;
  /** Bumped at each launch so a superseded attempt's result is ignored. */
  generation = 0;
  stepStartedAt: number | undefined;
  /**
   * The run as it was before each of its changes that is not durable yet, oldest first
   * (null: the run itself is not). Reads show the first: nothing is shown before it is on disk.
   */
  private readonly unconfirmed: (RunImage | null)[] = [];

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

  /** The run as it is on disk; null while its start is not. */
  durableRun(): Run | null {
    if (this.unconfirmed.length === 0) return publicRun(this.record);
    const image = this.unconfirmed[0]!;
    return image === null ? null : publicRun(image.record);
  }

  /** A change begins: remembers the run as it is (`created`: as it was, nothing). */
  begin(created: boolean): RunImage | null {
    const image = created ? null : { record: { ...this.record, step_results: [...this.record.step_results] }, stepStartedAt: this.stepStartedAt };
    this.unconfirmed.push(image);
    return image;
  }

  /** The oldest change not yet durable is now (or the database took it; its fdatasync failed). */
  confirmed(): void {
    this.unconfirmed.shift();
  }

  /** The newest change not yet durable could not be written: the run goes back to how it was. */
  rolledBack(image: RunImage | null): void {
    this.unconfirmed.pop();
    if (image === null) return;
    Object.assign(this.record, image.record);
    this.stepStartedAt = image.stepStartedAt;
    this.outputs.clear();
    for (const r of this.record.step_results) this.outputs.set(r.step_number, r.output);
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

/** The run object (docs/http-api.md), copied, without the store's bookkeeping. */
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

/** A run event a change announces: the outbox's row goes into its transaction (when there is an upstream). */
export interface Announced {
  kind: RunEventKind;
  st: RunState;
  /** The external step a `step` event hands off. */
  step: Step | undefined;
}

/**
 * Everything one state change writes, what to do once it is durable, and how to take it
 * back from memory if it cannot be written. A change calls `touch` (or `create`) for its
 * run before it alters anything of it.
 */
export class Tx {
  readonly snapshots: [string, string][] = [];
  readonly created: RunState[] = [];
  readonly touched = new Set<RunState>();
  /** The runs this change alters, each with what it was before. */
  private readonly begun: [RunState, RunImage | null][] = [];
  /** What else to put back (tracking, counts, timers), in the order it was changed. */
  private readonly undos: (() => void)[] = [];
  readonly results: [string, StepResult][] = [];
  readonly ledger: LedgerEntry[] = [];
  readonly cooldowns: [string, number][] = [];
  readonly announced: Announced[] = [];
  /** Runs that finished in this transaction: the store counts them toward what it keeps. */
  finished = 0;
  /** Steps run inline within this transaction (Engine.proceed bounds them). */
  inlineSteps = 0;
  private readonly effects: (() => void)[] = [];
  private readonly failures: ((err: unknown) => void)[] = [];

  /** `st` is about to change (or changed already within this Tx): written with it. */
  touch(st: RunState): void {
    if (this.touched.has(st)) return;
    this.touched.add(st);
    this.begun.push([st, st.begin(false)]);
  }

  /** `st` is a new run, inserted by this change. */
  create(st: RunState): void {
    this.created.push(st);
    this.touched.add(st);
    this.begun.push([st, st.begin(true)]);
  }

  /** Puts something besides the run records back if the change cannot be written. */
  onRollback(undo: () => void): void {
    this.undos.push(undo);
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
      this.finished === 0
    );
  }

  /** Runs `effect` once the transaction is durable; `onError` if it could not be written. */
  after(effect: () => void, onError?: (err: unknown) => void): void {
    this.effects.push(effect);
    if (onError !== undefined) this.failures.push(onError);
  }

  /** Runs `onError` if the transaction could not be written or made durable (after it was taken back). */
  onFailure(onError: (err: unknown) => void): void {
    this.failures.push(onError);
  }

  done(): void {
    this.confirmed();
    for (const effect of this.effects) effect();
  }

  /** The database took the change but could not say it is on disk: memory keeps what SQLite has. */
  confirmed(): void {
    for (const [st] of this.begun) st.confirmed();
    this.begun.length = 0;
  }

  /** Takes the change back from memory, newest first: the run records, then everything else. */
  rollback(): void {
    for (let i = this.begun.length - 1; i >= 0; i--) this.begun[i]![0].rolledBack(this.begun[i]![1]);
    this.begun.length = 0;
    for (let i = this.undos.length - 1; i >= 0; i--) this.undos[i]!();
  }

  fail(err: unknown): void {
    for (const onError of this.failures) onError(err);
  }
}
