// What the store keeps and what it lets go, in one place: at most `maxFinishedRuns`
// finished runs (with their step results) and `maxLedgerEntries` audit ledger entries.
// Beyond a limit the oldest go a batch at a time, in the transaction that went over it:
// deleting the oldest rows touches the same few pages whether one goes or many, and one at
// a time pruning was 5 of a run's 18 WAL pages and a third of the CPU it cost to store.

/** Rows beyond a limit go this many at a time: a sixteenth of it, 1 to `most`. */
export function pruneBatch(limit: number, most: number): number {
  return Math.min(most, Math.max(1, Math.floor(limit / 16)));
}

/** Finished runs beyond the limit go up to 64 at a time. */
export const RUN_BATCH = 64;
/** Ledger entries beyond the limit go up to 1,024 at a time. */
export const LEDGER_BATCH = 1024;

export interface RetentionLimits {
  /** Finished runs kept ([engine] max_finished_runs). */
  maxFinishedRuns: number;
  /** Audit ledger entries kept ([engine] max_ledger_entries). */
  maxLedgerEntries: number;
}

export interface Pruner {
  /** Deletes the `count` oldest finished runs. */
  runs(count: number): void;
  /** Deletes every ledger entry but the newest `keep`. */
  ledger(keep: number): void;
}

export class Retention {
  private readonly runsAt: number;
  private readonly ledgerAt: number;

  constructor(
    private readonly limits: RetentionLimits,
    /** What the database holds when it opens. */
    private counts: { finished: number; ledger: number },
    private readonly prune: Pruner,
  ) {
    this.runsAt = limits.maxFinishedRuns + pruneBatch(limits.maxFinishedRuns, RUN_BATCH);
    this.ledgerAt = limits.maxLedgerEntries + pruneBatch(limits.maxLedgerEntries, LEDGER_BATCH);
  }

  /** `n` runs were written finished in the transaction under way. */
  runsFinished(n: number): void {
    this.counts.finished += n;
    if (this.counts.finished < this.runsAt) return;
    this.prune.runs(this.counts.finished - this.limits.maxFinishedRuns);
    this.counts.finished = this.limits.maxFinishedRuns;
  }

  /** A ledger entry was written in the transaction under way. */
  ledgerAppended(): void {
    if (++this.counts.ledger < this.ledgerAt) return;
    this.prune.ledger(this.limits.maxLedgerEntries);
    this.counts.ledger = this.limits.maxLedgerEntries;
  }

  /** The counts now, to put back if the transaction under way is rolled back. */
  mark(): () => void {
    const saved = { ...this.counts };
    return () => {
      this.counts = saved;
    };
  }
}
