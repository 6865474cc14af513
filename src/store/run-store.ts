// The engine's narrow view of SQLite: runs, step results, SOP snapshots, cooldowns and
// the audit ledger, through statements prepared once. The engine holds active runs in
// memory and writes through; reads here serve recovery and the API.
import type { Run, RunStatus, StepResult } from '../core/run.js';
import { closeDatabase, openDatabase, walSync, type Db, type OpenOptions } from './db.js';
import type { WalSync } from './wal-sync.js';
import { Retention, type RetentionLimits } from './retention.js';
import { decodePrefix } from '../core/text.js';

export type Phase = 'gate' | 'executing' | 'external';

/** A run as stored: the run object plus what recovery needs to pick it up again. */
export interface RunRecord extends Run {
  sop_hash: string;
  phase: Phase | null;
  /** The current step's approval gate has been passed. */
  approved: boolean;
  /** Retries of the current step so far. */
  attempt: number;
}

export interface LedgerEntry {
  id?: number;
  at: string;
  kind: string;
  sop_name: string | null;
  run_id: string | null;
  step_number: number | null;
  actor: string | null;
  detail: string | null;
}

interface RunRow {
  run_id: string;
  sop_name: string;
  sop_hash: string;
  status: RunStatus;
  current_step: number;
  total_steps: number;
  trigger_source: Run['trigger_event']['source'];
  trigger_topic: string | null;
  trigger_payload: string | null;
  trigger_timestamp: string;
  started_at: string;
  completed_at: string | null;
  waiting_since: string | null;
  phase: Phase | null;
  approved: number;
  attempt: number;
  reason: string | null;
}

export interface RunStoreOptions extends OpenOptions, Partial<RetentionLimits> {}

/** Nothing pruned: for tools and tests that keep every row. */
const KEEP_ALL: RetentionLimits = { maxFinishedRuns: Number.POSITIVE_INFINITY, maxLedgerEntries: Number.POSITIVE_INFINITY };

/**
 * `column` cut to @bytes bytes, as a blob: substr() of text would stop at a NUL character.
 * (substr() of an empty blob is NULL, hence the empty string's own case.)
 */
const cut = (column: string) => `CASE WHEN ${column} = '' THEN x'' ELSE substr(CAST(${column} AS BLOB), 1, @bytes) END AS ${column}`;

/** The columns of a run cut short: its long text (topic, payload, reason) to @bytes bytes. */
const CUT_COLUMNS = `run_id, sop_name, status, current_step, total_steps, trigger_source, ${cut('trigger_topic')},
  ${cut('trigger_payload')}, trigger_timestamp, started_at, completed_at, waiting_since, ${cut('reason')}`;

const ACTIVE = `status IN ('running', 'waiting_approval')`;
const FINISHED = `status IN ('completed', 'failed', 'cancelled')`;

export class RunStore {
  readonly db: Db;
  /** Null when a commit is as durable as it gets once it returns. */
  readonly sync: WalSync | null;
  /** Its statements, prepared once. */
  private readonly sql;
  private readonly inTransaction: (fn: () => unknown) => unknown;
  private readonly retention: Retention;

  constructor(db: Db, sync: WalSync | null = walSync(db), limits: RetentionLimits = KEEP_ALL) {
    this.db = db;
    this.sync = sync;
    this.inTransaction = db.transaction((fn: () => unknown) => fn());
    const p = (sql: string) => db.prepare(sql);
    this.sql = {
      // The four statements every run writes bind their parameters in order: better-sqlite3
      // looks each named parameter up in the object it is given, which cost a ledger row
      // ~0.9 of its ~3 µs.
      insertRun: p(`INSERT INTO runs (run_id, sop_name, sop_hash, status, current_step, total_steps, trigger_source,
        trigger_topic, trigger_payload, trigger_timestamp, started_at, completed_at, waiting_since, phase, approved, attempt, reason)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      updateRun: p(`UPDATE runs SET status = ?, current_step = ?, completed_at = ?, waiting_since = ?, phase = ?, approved = ?,
        attempt = ?, reason = ? WHERE run_id = ?`),
      putStep: p(`INSERT OR REPLACE INTO step_results (run_id, step_number, status, output, started_at, completed_at)
        VALUES (?, ?, ?, ?, ?, ?)`),
      getRun: p(`SELECT * FROM runs WHERE run_id = ?`),
      steps: p(`SELECT step_number, status, output, started_at, completed_at FROM step_results WHERE run_id = ? ORDER BY step_number`),
      active: p(`SELECT * FROM runs WHERE ${ACTIVE} ORDER BY seq`),
      // One statement per filter, so each can use its index (an "@x IS NULL OR" cannot); ids only.
      listAll: p(`SELECT run_id FROM runs ORDER BY seq DESC LIMIT @limit`).pluck(),
      listByStatus: p(`SELECT run_id FROM runs WHERE status = @status ORDER BY seq DESC LIMIT @limit`).pluck(),
      listBySop: p(`SELECT run_id FROM runs WHERE sop_name = @sop ORDER BY seq DESC LIMIT @limit`).pluck(),
      listBySopStatus: p(`SELECT run_id FROM runs WHERE sop_name = @sop AND status = @status ORDER BY seq DESC LIMIT @limit`).pluck(),
      cutRun: p(`SELECT ${CUT_COLUMNS} FROM runs WHERE run_id = @run_id`),
      cutSteps: p(`SELECT step_number, status, ${cut('output')}, started_at, completed_at
        FROM step_results WHERE run_id = @run_id ORDER BY step_number`),
      countFinished: p(`SELECT count(*) AS n FROM runs WHERE ${FINISHED}`),
      prune: p(`DELETE FROM runs WHERE seq IN (SELECT seq FROM runs WHERE ${FINISHED} ORDER BY seq LIMIT ?)`),
      putSnapshot: p(`INSERT OR IGNORE INTO sop_snapshots (hash, definition) VALUES (?, ?)`),
      getSnapshot: p(`SELECT definition FROM sop_snapshots WHERE hash = ?`),
      // The latest finish, whatever the clock said before: one ahead of it after the clock went back is no later.
      setCooldown: p(`INSERT INTO cooldowns (sop_name, last_finished_ms) VALUES (?, ?)
        ON CONFLICT (sop_name) DO UPDATE SET last_finished_ms = excluded.last_finished_ms`),
      cooldowns: p(`SELECT sop_name, last_finished_ms FROM cooldowns`),
      ledger: p(`INSERT INTO ledger (at, kind, sop_name, run_id, step_number, actor, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`),
      ledgerForRun: p(`SELECT * FROM ledger WHERE run_id = ? ORDER BY id`),
      // Ledger ids are rowids that only grow and rows go only from the oldest end: they are
      // contiguous, so the count is a range and the newest N are the last N ids.
      ledgerCount: p(`SELECT coalesce(max(id) - min(id) + 1, 0) AS n FROM ledger`),
      ledgerPrune: p(`DELETE FROM ledger WHERE id <= (SELECT max(id) FROM ledger) - ?`),
      ledgerRecent: p(`SELECT * FROM ledger ORDER BY id DESC LIMIT ?`),
    };
    const counts = { finished: this.countFinished(), ledger: (this.sql.ledgerCount.get() as { n: number }).n };
    this.retention = new Retention(limits, counts, {
      runs: (count) => this.sql.prune.run(count),
      ledger: (keep) => this.sql.ledgerPrune.run(keep),
    });
  }

  static open(file: string, options: RunStoreOptions = {}): RunStore {
    const db = openDatabase(file, options);
    return new RunStore(db, walSync(db), {
      maxFinishedRuns: options.maxFinishedRuns ?? KEEP_ALL.maxFinishedRuns,
      maxLedgerEntries: options.maxLedgerEntries ?? KEEP_ALL.maxLedgerEntries,
    });
  }

  close(): void {
    closeDatabase(this.db);
  }

  /**
   * Runs `fn` in one transaction: all of its writes land together or not at all. One wrapper
   * for every call: better-sqlite3's transaction() builds four functions and defines five
   * properties on each, a sixth of the garbage a commit made.
   */
  transaction<T>(fn: () => T): T {
    const restore = this.retention.mark();
    try {
      return this.inTransaction(fn) as T;
    } catch (err) {
      restore(); // rolled back: the rows the counts saw are not there
      throw err;
    }
  }

  insertRun(run: RunRecord): void {
    const event = run.trigger_event;
    this.sql.insertRun.run(
      run.run_id, run.sop_name, run.sop_hash, run.status, run.current_step, run.total_steps, event.source, event.topic, event.payload,
      event.timestamp, run.started_at, run.completed_at, run.waiting_since, run.phase, run.approved ? 1 : 0, run.attempt, run.reason,
    );
  }

  updateRun(run: RunRecord): void {
    this.sql.updateRun.run(
      run.status, run.current_step, run.completed_at, run.waiting_since, run.phase, run.approved ? 1 : 0, run.attempt, run.reason, run.run_id,
    );
  }

  putStepResult(runId: string, result: StepResult): void {
    this.sql.putStep.run(runId, result.step_number, result.status, result.output, result.started_at, result.completed_at);
  }

  getRun(runId: string): RunRecord | null {
    const row = this.sql.getRun.get(runId) as RunRow | undefined;
    return row === undefined ? null : this.withSteps(row);
  }

  activeRuns(): RunRecord[] {
    return (this.sql.active.all() as RunRow[]).map((row) => this.withSteps(row));
  }

  /** The ids of the runs that fit the filter, newest first. */
  listRunIds(filter: { status?: RunStatus | undefined; sop?: string | undefined; limit?: number | undefined } = {}): string[] {
    const limit = filter.limit ?? 100;
    const { status, sop } = filter;
    const ids =
      sop === undefined
        ? status === undefined
          ? this.sql.listAll.all({ limit })
          : this.sql.listByStatus.all({ status, limit })
        : status === undefined
          ? this.sql.listBySop.all({ sop, limit })
          : this.sql.listBySopStatus.all({ sop, status, limit });
    return ids as string[];
  }

  /**
   * A run with its topic, payload, reason and step outputs cut to at most `bytes` bytes (to
   * end on a character) by SQLite, so that JavaScript never holds the whole of them; null
   * when unknown.
   */
  getRunCut(runId: string, bytes: number): Run | null {
    const row = this.sql.cutRun.get({ run_id: runId, bytes }) as CutRow<Buffer> | undefined;
    if (row === undefined) return null;
    const steps = this.sql.cutSteps.all({ run_id: runId, bytes }) as (Omit<StepResult, 'output'> & { output: Buffer })[];
    return runOf(
      { ...row, trigger_topic: textOf(row.trigger_topic), trigger_payload: textOf(row.trigger_payload), reason: textOf(row.reason) },
      steps.map((s) => ({ ...s, output: decodePrefix(s.output) })),
    );
  }

  countFinished(): number {
    return (this.sql.countFinished.get() as { n: number }).n;
  }

  /** `count` runs were written finished in this transaction; the oldest beyond the limit go. */
  runsFinished(count: number): void {
    if (count > 0) this.retention.runsFinished(count);
  }

  putSnapshot(hash: string, definition: string): void {
    this.sql.putSnapshot.run(hash, definition);
  }

  getSnapshot(hash: string): string | null {
    const row = this.sql.getSnapshot.get(hash) as { definition: string } | undefined;
    return row?.definition ?? null;
  }

  setLastFinished(sopName: string, ms: number): void {
    this.sql.setCooldown.run(sopName, ms);
  }

  lastFinished(): Map<string, number> {
    const rows = this.sql.cooldowns.all() as { sop_name: string; last_finished_ms: number }[];
    return new Map(rows.map((r) => [r.sop_name, r.last_finished_ms]));
  }

  /** Appends an entry; the oldest beyond the limit go in the same transaction. */
  appendLedger(entry: LedgerEntry): void {
    this.sql.ledger.run(entry.at, entry.kind, entry.sop_name, entry.run_id, entry.step_number, entry.actor, entry.detail);
    this.retention.ledgerAppended();
  }

  ledger(runId?: string, limit = 100): LedgerEntry[] {
    return (runId === undefined ? this.sql.ledgerRecent.all(limit) : this.sql.ledgerForRun.all(runId)) as LedgerEntry[];
  }

  private withSteps(row: RunRow): RunRecord {
    return {
      ...runOf(row, this.sql.steps.all(row.run_id) as StepResult[]),
      sop_hash: row.sop_hash,
      phase: row.phase,
      approved: row.approved === 1,
      attempt: row.attempt,
    };
  }
}

/** What a run cut short reads of its row (its long text as T). */
type CutRow<T = string> = Omit<RunRow, 'sop_hash' | 'phase' | 'approved' | 'attempt' | 'trigger_topic' | 'trigger_payload' | 'reason'> & {
  trigger_topic: T | null;
  trigger_payload: T | null;
  reason: T | null;
};

function textOf(bytes: Buffer | null): string | null {
  return bytes === null ? null : decodePrefix(bytes);
}

/** The run object of a row and its step results. */
function runOf(row: CutRow, steps: StepResult[]): Run {
  return {
    run_id: row.run_id,
    sop_name: row.sop_name,
    status: row.status,
    current_step: row.current_step,
    total_steps: row.total_steps,
    trigger_event: {
      source: row.trigger_source,
      topic: row.trigger_topic,
      payload: row.trigger_payload,
      timestamp: row.trigger_timestamp,
    },
    started_at: row.started_at,
    completed_at: row.completed_at,
    waiting_since: row.waiting_since,
    step_results: steps,
    reason: row.reason,
  };
}


