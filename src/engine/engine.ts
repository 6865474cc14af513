// The run engine: what happens after an event matched. Active runs live in memory and
// every state change is written through to SQLite in one transaction together with its
// ledger rows, before anyone is told about it (docs/operations.md). A change the database
// refuses is taken back from memory; while it refuses, requests that would change state
// are refused and changes nobody waits for are kept for later (Writes).
import type { GatewayEvent } from '../core/events.js';
import type { Executors } from '../executors/types.js';
import type { Logger } from '../core/log.js';
import type { SopDefinition } from '../sop/types.js';
import type { LedgerEntry, RunStore } from '../store/run-store.js';
import type { OutboxStore } from '../store/outbox.js';
import type { Clock } from '../core/clock.js';
import { ActiveRuns } from './active-runs.js';
import { RunListeners } from './listeners.js';
import { ApprovalTimers } from './approval-timers.js';
import { stepHandoff } from './handoff.js';
import { admit } from './admission.js';
import { RefusalLog } from './refusals.js';
import { Snapshots } from './snapshots.js';
import type { StorageStatus } from './storage-guard.js';
import { Writes } from './writes.js';
import { Transitions } from './transitions.js';
import { EngineCounters, type EngineStats } from './counters.js';
import { newRunRecord, publicRun, RunState, Tx } from './run-state.js';
import { PREVIEW_BYTES, previewRun, type RunPreview } from './run-preview.js';
import { MAX_CHAR_BYTES } from '../core/text.js';
import { storedRuns } from './recovery.js';
import type { Run, RunEvent, RunStatus, StepStatus } from '../core/run.js';
import type { ActionResult, Actor, RefusalReason, StartResult, StorageUnavailable } from './types.js';

export interface EngineOptions {
  store: RunStore;
  clock: Clock;
  logger: Logger;
  executors: Executors;
  maxConcurrentTotal: number;
  /** 0 = never. */
  approvalTimeoutSecs: number;
  /** With an upstream: every run event also goes into this outbox, in the transaction of its change. */
  outbox?: OutboxStore;
}

export type { EngineStats };

export class Engine {
  private readonly options: EngineOptions;
  private readonly log: Logger;
  private readonly refusals: RefusalLog;
  private sops = new Map<string, SopDefinition>();
  private readonly snapshots = new Snapshots();
  private readonly runs: ActiveRuns;
  private readonly listeners: RunListeners;
  private readonly writes: Writes;
  private readonly timers: ApprovalTimers;
  private readonly counters = new EngineCounters();
  private readonly transitions: Transitions;

  constructor(options: EngineOptions) {
    this.options = options;
    this.log = options.logger.child('engine');
    this.writes = new Writes(options.store, options.clock, options.logger, options.outbox ?? null);
    this.runs = new ActiveRuns(options.store);
    this.listeners = new RunListeners(this.log);
    this.refusals = new RefusalLog(options.clock, (row) => {
      const detail = row.count === 1 ? row.message : `${row.message} (${row.count} refusals coalesced)`;
      this.writes.refusalRow({ ...this.transitions.entry('refused', row.sopName, null, null, 'engine'), detail: `${row.reason}: ${detail}` });
    });
    this.timers = new ApprovalTimers(options.clock, options.approvalTimeoutSecs, (st, since) =>
      this.writes.background((tx) => {
        if (!this.runs.has(st.record.run_id) || st.record.status !== 'waiting_approval' || st.record.waiting_since !== since) return;
        this.transitions.passGate(tx, st, 'timeout', `approved automatically after ${options.approvalTimeoutSecs}s (${st.sop.priority} priority)`);
      }),
    );
    this.transitions = new Transitions({
      clock: options.clock,
      log: this.log,
      executors: options.executors,
      outbox: options.outbox,
      runs: this.runs,
      listeners: this.listeners,
      timers: this.timers,
      counters: this.counters,
      writes: this.writes,
    });
  }

  /** The SOP set new runs start from; active runs keep the definition they started with. */
  setSops(sops: readonly SopDefinition[]): void {
    this.sops = new Map(sops.map((s) => [s.name, s]));
  }

  onEvent(listener: (event: RunEvent) => void): () => void {
    return this.listeners.add(listener);
  }

  /** Told, once it is durable, that a run's external step has its result: its `step` context is stale. */
  onExternalStepEnded(listener: (runId: string) => void): () => void {
    return this.listeners.addExternalEnded(listener);
  }

  /** The `step` events of the runs waiting for an external result now (announced again after a restart). */
  pendingExternalSteps(): RunEvent[] {
    const events: RunEvent[] = [];
    for (const st of this.runs.values()) {
      const step = st.step();
      if (st.record.phase !== 'external' || step === undefined) continue;
      const run = st.toRun();
      events.push({ kind: 'step', run, step: stepHandoff(st.sop, run, step) });
    }
    return events;
  }

  /**
   * Restores every non-terminal run after a restart or a crash. On a database that cannot
   * be written the runs are restored as they are on disk and go on once it can.
   */
  start(): void {
    this.runs.load();
    for (const st of storedRuns(this.options.store, this.snapshots, this.options.clock, this.log)) {
      this.runs.track(st);
      const id = st.record.run_id;
      if (st.record.status === 'waiting_approval') {
        this.timers.arm(st);
      } else if (st.record.phase === 'executing') {
        this.writes.background((tx) => {
          if (!this.runs.has(id) || st.record.phase !== 'executing') return;
          tx.touch(st);
          tx.ledger.push({ ...this.transitions.entry('resumed', st.record.sop_name, id, st.record.current_step, 'engine'), detail: 'step re-executed after a restart' });
          st.stepStartedAt = this.options.clock.now(); // the step's new attempt starts now
          tx.after(() => this.transitions.launch(st));
        });
      } else if (st.record.phase === null) {
        this.writes.background((tx) => {
          if (this.runs.has(id) && st.record.phase === null) this.transitions.proceed(tx, st);
        });
      }
    }
    this.flush();
    this.listeners.waitingMayHaveChanged();
    if (this.runs.size > 0) this.log.log('info', `restored ${this.runs.size} active run(s)`);
  }

  /** Stops timers and in-flight actions without changing any run: a restart resumes them. */
  stop(): void {
    this.transitions.stop();
    this.writes.stop();
    this.timers.close();
    for (const st of this.runs.values()) {
      st.timer?.cancel();
      st.abort?.abort();
    }
    this.refusals.flush();
    this.flush();
  }

  /** Resolves once the new run is durable; a refusal resolves at once. `actor`: who asked, for the ledger. */
  startRun(sopName: string, event: GatewayEvent, actor: Actor = 'engine'): Promise<StartResult> {
    const sop = this.sops.get(sopName);
    const now = this.options.clock.now();
    const refusal = admit(sopName, sop, {
      activeOfSop: this.runs.activeOf(sopName),
      activeTotal: this.runs.size,
      maxConcurrentTotal: this.options.maxConcurrentTotal,
      lastFinished: this.runs.lastFinishedOf(sopName, now),
      now,
    });
    if (refusal !== null || sop === undefined) {
      // admit() refuses an unknown SOP, so refusal is set whenever sop is missing.
      const r = refusal!;
      this.refusals.record(sopName, r.reason, r.message);
      return Promise.resolve(r);
    }
    if (!this.writes.available) {
      this.refusals.count('storage_unavailable');
      return Promise.resolve(this.writes.refused());
    }

    const snapshot = this.snapshots.of(sop);
    const tx = new Tx();
    const st = new RunState(newRunRecord(sop, event, snapshot.hash, now), sop);
    tx.create(st);
    this.runs.track(st, tx);
    if (!this.snapshots.isStored(snapshot.hash)) {
      tx.snapshots.push([snapshot.hash, snapshot.json]);
      tx.after(() => this.snapshots.stored(snapshot.hash));
    }
    tx.ledger.push({ ...this.transitions.entry('started', sop.name, st.record.run_id, null, actor), detail: describeEvent(event) });
    tx.after(() => this.counters.started++);
    this.transitions.announce(tx, 'started', st);
    this.transitions.proceed(tx, st);
    return this.commitWithRun(tx, st);
  }

  /** A start refused before it reached the engine (a command from afar for a SOP it cannot start): in the ledger like the engine's own. */
  refuse(sopName: string, reason: RefusalReason, message: string): void {
    this.refusals.record(sopName, reason, message);
  }

  /**
   * Each action resolves once its change is durable, with the run as it was then.
   * `detail` goes into the ledger entry (an approval button says which signal it is).
   */
  approve(runId: string, actor: Actor, detail: string | null = null): Promise<ActionResult> {
    const st = this.runs.get(runId);
    if (st === undefined) return Promise.resolve(this.runs.notActive(runId));
    if (st.record.status !== 'waiting_approval') {
      return Promise.resolve({ ok: false, reason: 'not_waiting', message: `run ${runId} is not waiting for approval` });
    }
    if (!this.writes.available) return Promise.resolve(this.writes.refused());
    const tx = new Tx();
    this.transitions.passGate(tx, st, actor, detail);
    return this.commitWithRun(tx, st);
  }

  /** The run that has waited for approval longest (of `sop` only, when given), or undefined. */
  oldestWaiting(sop: string | null = null): string | undefined {
    let oldest: RunState | undefined;
    for (const st of this.runs.values()) {
      const rec = st.record;
      if (rec.status !== 'waiting_approval' || (sop !== null && rec.sop_name !== sop)) continue;
      // ISO-8601 UTC strings sort as times; on a tie the run started first stays.
      if (oldest === undefined || rec.waiting_since! < oldest.record.waiting_since!) oldest = st;
    }
    return oldest?.record.run_id;
  }

  /**
   * Told how many runs wait for approval whenever a durable change alters that number
   * (and once at start): what a status LED shows.
   */
  onWaitingCount(listener: (count: number) => void): () => void {
    return this.listeners.addWaitingCount(listener, () => this.waitingCount());
  }

  /** An external step's result; `by` (who sent it, when known) goes into the ledger. */
  advance(runId: string, result: { status: StepStatus; output?: string }, actor: Actor, by?: string): Promise<ActionResult> {
    const st = this.runs.get(runId);
    if (st === undefined) return Promise.resolve(this.runs.notActive(runId));
    if (st.record.status === 'waiting_approval') {
      return Promise.resolve({ ok: false, reason: 'waiting_approval', message: `run ${runId} is waiting for approval of step ${st.record.current_step}: approve it first` });
    }
    if (st.record.phase !== 'external') {
      return Promise.resolve({ ok: false, reason: 'not_external', message: `step ${st.record.current_step} of run ${runId} is run by the gateway, not reported` });
    }
    if (!this.writes.available) return Promise.resolve(this.writes.refused());
    const tx = new Tx();
    tx.touch(st);
    tx.ledger.push({ ...this.transitions.entry('advanced', st.record.sop_name, runId, st.record.current_step, actor), detail: by === undefined ? result.status : `${result.status} (${by})` });
    this.transitions.stepFinished(tx, st, result.status, result.output ?? '');
    return this.commitWithRun(tx, st);
  }

  cancel(runId: string, actor: Actor, by?: string): Promise<ActionResult> {
    const st = this.runs.get(runId);
    if (st === undefined) return Promise.resolve(this.runs.notActive(runId));
    if (!this.writes.available) return Promise.resolve(this.writes.refused());
    const tx = new Tx();
    tx.touch(st);
    const reason = `cancelled by ${actor}`;
    this.transitions.finish(tx, st, 'cancelled', reason, actor, by === undefined ? reason : `${reason} (${by})`);
    return this.commitWithRun(tx, st);
  }

  /** Runs as they are on disk: a change not yet durable is not shown. */
  getRun(runId: string): Run | null {
    const st = this.runs.inMemory(runId);
    if (st !== undefined) return st.durableRun();
    const record = this.options.store.getRun(runId);
    return record === null ? null : publicRun(record);
  }

  /** The ids of the runs that fit the filter, newest first (a list reads each with runPreview). */
  listRunIds(filter: { status?: RunStatus; sop?: string; limit?: number } = {}): string[] {
    return this.options.store.listRunIds(filter);
  }

  /** A run as it is on disk with its long text cut (see run-preview.ts), or null when there is none. */
  runPreview(runId: string): RunPreview | null {
    const st = this.runs.inMemory(runId);
    // A character more than a preview keeps, so that previewRun can tell what was cut.
    const run = st !== undefined ? st.durableRun() : this.options.store.getRunCut(runId, PREVIEW_BYTES + MAX_CHAR_BYTES);
    return run === null ? null : previewRun(run);
  }

  /** Newest first, as previews. */
  listRuns(filter: { status?: RunStatus; sop?: string; limit?: number } = {}): RunPreview[] {
    return this.listRunIds(filter).flatMap((id) => this.runPreview(id) ?? []);
  }

  /** Audit ledger entries: a run's, oldest first, or the newest `limit` of all. */
  ledger(runId?: string, limit = 100): LedgerEntry[] {
    this.flush(); // the ledger shows every change already made
    return this.options.store.ledger(runId, limit);
  }

  stats(): EngineStats {
    const waiting = this.waitingCount();
    return {
      active: this.runs.size,
      activeByStatus: { running: this.runs.size - waiting, waiting_approval: waiting },
      refusals: Object.fromEntries(this.refusals.totals),
      commits: this.writes.written,
      backlog: this.writes.backlog(),
      storage: this.writes.status(),
      ...this.counters.snapshot(),
    };
  }

  private waitingCount(): number {
    let waiting = 0;
    for (const st of this.runs.values()) if (st.record.status === 'waiting_approval') waiting++;
    return waiting;
  }

  /** Whether the state database takes writes (/healthz). */
  storageStatus(): StorageStatus {
    return this.writes.status();
  }

  /** Resolves with the run as this change left it once it is durable, or with why it is not. */
  private commitWithRun(tx: Tx, st: RunState): Promise<{ ok: true; run: Run } | StorageUnavailable> {
    return this.writes.request(tx, { ok: true as const, run: st.toRun() });
  }

  /**
   * Calls `go` now or, while too many state changes wait for the disk, once they have
   * drained: a source that can hold its input back (the broker) waits for this before it
   * takes more, so that a flood does not pile up in memory.
   */
  whenCaughtUp(go: () => void): void {
    this.writes.whenCaughtUp(go);
  }

  /** Keeps changes from being written until the returned function is called (CommitQueue.hold). */
  holdCommits(): () => void {
    return this.writes.hold();
  }

  /** Writes every queued change now (tests, shutdown). */
  flush(): void {
    this.writes.flush();
  }

}

function describeEvent(event: GatewayEvent): string {
  return `${event.source}${event.topic === undefined ? '' : ` ${event.topic}`}`;
}
