// The runs the engine holds in memory: active ones by id and counted per SOP, finished
// ones until their last change is written, and when each SOP last finished (cooldowns).
// A change that cannot be written puts all of it back (Tx.rollback).
import type { RunStore } from '../store/run-store.js';
import type { RunState, Tx } from './run-state.js';
import { TERMINAL } from '../core/run.js';
import type { ActionResult } from './types.js';

export class ActiveRuns {
  private readonly active = new Map<string, RunState>();
  /** Finished runs whose last change is not durable yet, with that change. */
  private readonly unflushed = new Map<string, { st: RunState; tx: Tx }>();
  private readonly activeBySop = new Map<string, number>();
  private readonly lastFinished = new Map<string, number>();

  constructor(private readonly store: RunStore) {}

  /** Reads what the store remembers of finished runs (at start, before any run is restored). */
  load(): void {
    for (const [name, ms] of this.store.lastFinished()) this.lastFinished.set(name, ms);
  }

  get size(): number {
    return this.active.size;
  }

  values(): IterableIterator<RunState> {
    return this.active.values();
  }

  get(runId: string): RunState | undefined {
    return this.active.get(runId);
  }

  has(runId: string): boolean {
    return this.active.has(runId);
  }

  /** An active run, or a finished one whose last change is not written yet. */
  inMemory(runId: string): RunState | undefined {
    return this.active.get(runId) ?? this.unflushed.get(runId)?.st;
  }

  /** The change that finished this run, while it is not durable yet (it may still be taken back). */
  finishing(runId: string): Tx | undefined {
    return this.unflushed.get(runId)?.tx;
  }

  activeOf(sopName: string): number {
    return this.activeBySop.get(sopName) ?? 0;
  }

  /**
   * When the SOP's last run finished. A time ahead of `now` means the wall clock went back
   * (a board without a real-time clock sets it at boot): it counts as now from here on, so
   * that a cooldown is never longer than cooldown_secs.
   */
  lastFinishedOf(sopName: string, now: number): number | undefined {
    const at = this.lastFinished.get(sopName);
    if (at === undefined || at <= now) return at;
    this.lastFinished.set(sopName, now);
    return now;
  }

  /** A run is active from now on (a restored one; or, with `tx`, a new one until `tx` is taken back). */
  track(st: RunState, tx?: Tx): RunState {
    this.active.set(st.record.run_id, st);
    this.activeBySop.set(st.record.sop_name, (this.activeBySop.get(st.record.sop_name) ?? 0) + 1);
    tx?.onRollback(() => this.untrack(st));
    return st;
  }

  /**
   * A run finished at `now`: it no longer counts as active, reads find it here until `tx` is
   * written (when the store also counts it toward what it keeps).
   */
  finish(tx: Tx, st: RunState, now: number): void {
    const rec = st.record;
    const lastFinished = this.lastFinished.get(rec.sop_name);
    this.lastFinished.set(rec.sop_name, now);
    this.untrack(st);
    this.unflushed.set(rec.run_id, { st, tx });
    tx.after(() => this.unflushed.delete(rec.run_id));
    tx.finished++;
    tx.onRollback(() => {
      this.unflushed.delete(rec.run_id);
      this.track(st);
      if (lastFinished === undefined) this.lastFinished.delete(rec.sop_name);
      else this.lastFinished.set(rec.sop_name, lastFinished);
    });
  }

  /** Why an action on a run that is not active did nothing. */
  notActive(runId: string): ActionResult {
    const record = this.unflushed.get(runId)?.st.record ?? this.store.getRun(runId);
    if (record !== null && TERMINAL.has(record.status)) {
      return { ok: false, reason: 'finished', message: `run ${runId} is already ${record.status}` };
    }
    return { ok: false, reason: 'not_found', message: `no run ${runId}` };
  }

  private untrack(st: RunState): void {
    this.active.delete(st.record.run_id);
    const n = (this.activeBySop.get(st.record.sop_name) ?? 1) - 1;
    if (n > 0) this.activeBySop.set(st.record.sop_name, n);
    else this.activeBySop.delete(st.record.sop_name);
  }
}
