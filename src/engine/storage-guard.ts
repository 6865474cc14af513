// Whether the state database takes writes. Once it refuses one (a full disk, an I/O error)
// the gateway is degraded: requests that would change state are refused with the reason
// (HTTP 503) instead of changing memory that cannot reach the disk, while reads, metrics
// and the broker go on. Changes nobody waits for (a step's result, an approval timeout, a
// resumed run) are kept here and made again once writes work: a step that ended during
// the outage is not run a second time. A retry with back-off makes them, together with one
// ledger row that probes the disk, in one transaction; when that is durable the gateway is
// available again, with no restart. The condition is logged when it changes, not per write.
import type { Logger } from '../core/log.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { StorageUnavailable } from './types.js';
import { CommitError } from './commit-queue.js';
import { errorMessage } from '../core/errors.js';
import { isoTime } from '../core/time.js';

/** The first retry after a write failed; each failed retry doubles the wait, up to the last. */
export const FIRST_RETRY_MS = 250;
export const MAX_RETRY_MS = 15_000;

/** For /healthz, /api/status and /metrics. */
export interface StorageStatus {
  available: boolean;
  /** Why writes fail (the database's own words), while they do. */
  reason: string | null;
  /** When they began to fail. */
  since: string | null;
  /** Seconds until the next retry, while they fail. */
  retryInSecs: number | null;
}

export interface StorageGuardOptions {
  clock: Clock;
  logger: Logger;
  /**
   * Writes a ledger row saying how long writes failed (`detail`); resolves once it is
   * durable, rejects if it is not. Made in the same turn as the kept changes, so it
   * shares their transaction.
   */
  probe: (detail: string) => Promise<void>;
}

interface Outage {
  reason: string;
  since: number;
}

export class StorageGuard {
  private outage: Outage | null = null;
  private readonly kept: (() => void)[] = [];
  private retryMs = FIRST_RETRY_MS;
  private timer: TimerHandle | undefined;
  private nextRetryAt = 0;
  /** A retry's writes are under way: kept changes may be made again. */
  private retrying = false;
  private stopped = false;
  /** Refusal ledger rows that could not be written during this outage. */
  private lostRows = 0;

  constructor(private readonly options: StorageGuardOptions) {}

  /** Requests may change state (false from a failed write until a retry succeeded). */
  get available(): boolean {
    return this.outage === null;
  }

  /** Changes nobody waits for may be written now (else: keep them). */
  get writable(): boolean {
    return this.outage === null || this.retrying;
  }

  /** A write failed: degraded from now on (logged once per reason), retried with back-off. */
  failed(err: unknown): void {
    const reason = errorMessage(err);
    if (this.outage === null) {
      this.outage = { reason, since: this.options.clock.now() };
      this.options.logger.log(
        'error',
        `cannot write the state database (${reason}): state changes are refused (503) and retried in the background; reads, /metrics and the broker go on`,
      );
    } else if (this.outage.reason !== reason) {
      this.outage.reason = reason;
      this.options.logger.log('error', `still cannot write the state database, now: ${reason}`);
    }
    if (!this.retrying) this.arm();
  }

  /** Keeps a change nobody waits for, to be made again once writes work (after `failed`). */
  keep(change: () => void): void {
    this.kept.push(change);
  }

  /** A refusal's ledger row could not be written (the refusal itself still counts). */
  lost(rows: number): void {
    this.lostRows += rows;
  }

  /** What a request that would change state is answered while the gateway is degraded, or when its change failed (`err`). */
  refusal(err?: unknown): StorageUnavailable {
    const reason = this.outage?.reason ?? errorMessage(err);
    // A change SQLite took but could not make durable may or may not survive a power cut.
    const outcome = err instanceof CommitError && err.written ? 'the change may not be on disk' : 'nothing was changed';
    return {
      ok: false,
      reason: 'storage_unavailable',
      message: `the state database cannot be written (${reason}): ${outcome}; try again later`,
      detail: reason,
      retryAfterSecs: this.retryInSecs() ?? 1,
    };
  }

  status(): StorageStatus {
    const o = this.outage;
    return { available: o === null, reason: o?.reason ?? null, since: o === null ? null : isoTime(o.since), retryInSecs: this.retryInSecs() };
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private retryInSecs(): number | null {
    if (this.outage === null) return null;
    return Math.max(1, Math.ceil((this.nextRetryAt - this.options.clock.now()) / 1000));
  }

  private arm(): void {
    if (this.stopped || this.timer !== undefined) return;
    this.nextRetryAt = this.options.clock.now() + this.retryMs;
    this.timer = this.options.clock.setTimer(this.retryMs, () => {
      this.timer = undefined;
      this.retry();
    });
  }

  private retry(): void {
    const outage = this.outage;
    if (outage === null || this.stopped) return;
    this.retrying = true;
    for (const change of this.kept.splice(0)) change();
    const lost = this.lostRows === 0 ? '' : `; ${this.lostRows} refusal row(s) could not be written`;
    const seconds = Math.round((this.options.clock.now() - outage.since) / 1000);
    this.options.probe(`writes failed for ${seconds} s from ${isoTime(outage.since)}: ${outage.reason}${lost}`).then(
      () => {
        this.retrying = false;
        this.outage = null;
        this.retryMs = FIRST_RETRY_MS;
        this.lostRows = 0;
        this.options.logger.log('info', `the state database takes writes again after ${seconds} s; state changes are accepted`);
      },
      () => {
        this.retrying = false;
        this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
        this.arm();
      },
    );
  }
}
