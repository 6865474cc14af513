// How a run moves from step to step. Each transition changes a run in memory and queues
// its writes, ledger rows, run events and effects on a Tx; the commit queue writes the Tx
// and runs the effects only once it is durable (a refused Tx is taken back: run-state.ts).
import type { Clock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { RunEventKind, StepStatus } from '../core/run.js';
import { excerpt } from '../core/text.js';
import { isoTime } from '../core/time.js';
import type { Executors } from '../executors/types.js';
import type { Step } from '../sop/types.js';
import type { OutboxStore } from '../store/outbox.js';
import type { ActiveRuns } from './active-runs.js';
import type { ApprovalTimers } from './approval-timers.js';
import type { EngineCounters } from './counters.js';
import { gateFor } from './gates.js';
import { stepHandoff } from './handoff.js';
import type { RunListeners } from './listeners.js';
import { runAction, runInline } from './run-action.js';
import type { RunState, Tx } from './run-state.js';
import type { Actor } from './types.js';
import type { Writes } from './writes.js';

/**
 * Inline steps (Executor.inline: `log`) one transaction runs in a row before the next is
 * launched as usual: proceed and stepFinished recurse once per step, and one event must
 * not hold the event loop for a SOP of thousands of log steps.
 */
const MAX_INLINE_STEPS = 32;
/** Bytes of a failed step's output that its run's reason quotes. */
const REASON_OUTPUT_BYTES = 200;

export interface TransitionDeps {
  clock: Clock;
  log: Logger;
  executors: Executors;
  outbox: OutboxStore | undefined;
  runs: ActiveRuns;
  listeners: RunListeners;
  timers: ApprovalTimers;
  counters: EngineCounters;
  writes: Writes;
}

export class Transitions {
  private stopping = false;

  constructor(private readonly deps: TransitionDeps) {}

  /** From now on results of actions in flight are ignored and nothing new is launched. */
  stop(): void {
    this.stopping = true;
  }

  /** Moves a run to its current step: waits at a gate, launches the action, or hands the step off. */
  proceed(tx: Tx, st: RunState): void {
    const rec = st.record;
    tx.touch(st);
    const step = st.step();
    if (step === undefined) {
      this.finish(tx, st, 'completed', null, 'engine');
      return;
    }
    const gate = gateFor(st.sop, step);
    if (gate !== 'none' && !rec.approved) {
      rec.status = 'waiting_approval';
      rec.phase = 'gate';
      rec.waiting_since = isoTime(this.deps.clock.now());
      tx.ledger.push({ ...this.entry('waiting', rec.sop_name, rec.run_id, rec.current_step, 'engine'), detail: gate === 'confirmation' ? 'requires confirmation' : `${st.sop.execution_mode} mode` });
      tx.after(() => this.deps.timers.arm(st));
      this.announce(tx, 'waiting_approval', st);
      tx.after(() => this.deps.listeners.waitingMayHaveChanged());
      return;
    }
    rec.status = 'running';
    rec.waiting_since = null;
    st.stepStartedAt = this.deps.clock.now();
    tx.ledger.push(this.entry('step_started', rec.sop_name, rec.run_id, rec.current_step, 'engine'));
    if (step.action !== null) {
      const outcome = tx.inlineSteps < MAX_INLINE_STEPS ? runInline(this.deps.executors, st, step, step.action) : undefined;
      if (outcome !== undefined) {
        // Its result goes into this transaction; what it does waits until that is durable.
        tx.inlineSteps++;
        const effect = outcome.effect;
        if (effect !== undefined) tx.after(() => this.safely(effect, `step ${rec.current_step} of run ${rec.run_id}`));
        this.stepFinished(tx, st, outcome.status, outcome.output);
        return;
      }
      rec.phase = 'executing';
      tx.after(() => this.launch(st));
    } else {
      rec.phase = 'external';
      this.announce(tx, 'step', st, step);
    }
  }

  passGate(tx: Tx, st: RunState, actor: Actor, detail: string | null): void {
    tx.touch(st);
    this.deps.timers.cancel(tx, st);
    st.record.approved = true;
    tx.ledger.push({ ...this.entry('approved', st.record.sop_name, st.record.run_id, st.record.current_step, actor), detail });
    tx.after(() => this.deps.listeners.waitingMayHaveChanged());
    this.proceed(tx, st);
  }

  stepFinished(tx: Tx, st: RunState, status: StepStatus, output: string): void {
    const rec = st.record;
    const step = st.step()!;
    const now = this.deps.clock.now();
    const tool = step.action?.tool ?? 'external';
    const seconds = (now - (st.stepStartedAt ?? now)) / 1000;
    tx.after(() => this.deps.counters.step(tool, seconds));
    tx.results.push([rec.run_id, st.putResult({ step_number: rec.current_step, status, output, started_at: isoTime(st.stepStartedAt ?? now), completed_at: isoTime(now) })]);
    tx.ledger.push({ ...this.entry('step_finished', rec.sop_name, rec.run_id, rec.current_step, 'engine'), detail: status });
    tx.touch(st);
    if (step.action === null) tx.after(() => this.deps.listeners.externalStepEnded(rec.run_id));
    if (status === 'failed') {
      const policy = step.on_failure;
      if (policy.policy === 'retry' && rec.attempt < policy.retries) {
        rec.attempt++;
        tx.ledger.push({ ...this.entry('retry', rec.sop_name, rec.run_id, rec.current_step, 'engine'), detail: `retry ${rec.attempt} of ${policy.retries}` });
        rec.approved = true; // a retry does not ask for approval again
        this.proceed(tx, st);
        return;
      }
      if (policy.policy !== 'continue') {
        // The reason goes into the ledger, run events and the journal: the step result has it all.
        this.finish(tx, st, 'failed', `Step ${rec.current_step} failed: ${excerpt(output, REASON_OUTPUT_BYTES)}`, 'engine');
        return;
      }
    }
    rec.current_step++;
    rec.approved = false;
    rec.attempt = 0;
    this.proceed(tx, st);
  }

  /** `detail` is the ledger's (the reason unless told), `reason` the run's. */
  finish(tx: Tx, st: RunState, status: 'completed' | 'failed' | 'cancelled', reason: string | null, actor: Actor, detail = reason): void {
    const rec = st.record;
    const now = this.deps.clock.now();
    // A waiting run that is cancelled waits no more.
    if (rec.status === 'waiting_approval') tx.after(() => this.deps.listeners.waitingMayHaveChanged());
    rec.status = status;
    rec.phase = null;
    rec.waiting_since = null;
    // A completed run moved past its last step: it reads "step N of N", not "N+1 of N".
    rec.current_step = Math.min(rec.current_step, rec.total_steps);
    rec.completed_at = isoTime(now);
    rec.reason = reason;
    tx.touch(st);
    tx.ledger.push({ ...this.entry(status, rec.sop_name, rec.run_id, null, actor), detail });
    // Stored only for SOPs with a cooldown: it is the only reader, and it saves a write per run.
    if (st.sop.cooldown_secs > 0) tx.cooldowns.push([rec.sop_name, now]);
    this.deps.runs.finish(tx, st, now);
    this.deps.timers.cancel(tx, st);
    tx.after(() => st.abort?.abort()); // a cancelled action stops once the cancel is durable
    tx.after(() => this.deps.counters.finished[status]++); // counted once durable, as the metrics say
    this.announce(tx, status, st);
  }

  /** A run event: in the outbox with the change (when there is one), told to listeners once it is durable. */
  announce(tx: Tx, kind: RunEventKind, st: RunState, step?: Step): void {
    if (this.deps.outbox !== undefined) tx.announced.push({ kind, st, step });
    tx.after(() => this.deps.listeners.emit(kind, st, step === undefined ? undefined : stepHandoff(st.sop, st.toRun(), step)));
  }

  launch(st: RunState): void {
    if (this.stopping || !this.deps.runs.has(st.record.run_id)) return;
    const step = st.step();
    if (step?.action == null) return;
    const generation = ++st.generation;
    const abort = new AbortController();
    st.abort = abort;
    const id = st.record.run_id;
    const done = (status: 'completed' | 'failed', output: string): void => {
      // A stopping gateway or a superseded attempt ignores the result.
      if (this.stopping || st.generation !== generation) return;
      // A cancel that is not durable yet may still be taken back: wait and see.
      const finishing = this.deps.runs.finishing(id);
      if (finishing !== undefined) {
        finishing.after(() => {}, () => done(status, output));
        return;
      }
      this.deps.writes.background((tx) => {
        // A cancelled run ignores the result.
        if (this.stopping || st.generation !== generation || !this.deps.runs.has(id) || st.record.phase !== 'executing') return;
        tx.touch(st);
        st.abort = undefined; // nothing left to abort
        this.stepFinished(tx, st, status, output);
      });
    };
    runAction(this.deps.executors, st, step, abort.signal, done);
  }

  /** An effect that throws must not keep the transaction's later effects (and callers) from running. */
  private safely(effect: () => void, what: string): void {
    try {
      effect();
    } catch (err) {
      this.deps.log.log('error', `${what} failed after its result was stored: ${errorMessage(err)}`);
    }
  }

  /** A ledger row of this moment, its detail still to be filled in. */
  entry(kind: string, sopName: string, runId: string | null, step: number | null, actor: Actor) {
    return { at: isoTime(this.deps.clock.now()), kind, sop_name: sopName, run_id: runId, step_number: step, actor, detail: null as string | null };
  }
}
