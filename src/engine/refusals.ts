// Refused starts go to the audit ledger, but a sensor that floods a SOP in cooldown must
// not write a row per message: the first refusal per (SOP, reason) is written at once,
// later ones in the same window are counted and written as one row when it closes.
import type { Clock, TimerHandle } from '../core/clock.js';
import type { RefusalReason } from './types.js';

export interface RefusalRow {
  sopName: string;
  reason: RefusalReason;
  count: number;
  message: string;
}

interface Window {
  count: number;
  message: string;
  timer: TimerHandle;
}

export class RefusalLog {
  /** Refusals by reason since start, for metrics (storage_unavailable: starts the database could not take). */
  readonly totals = new Map<string, number>();
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly clock: Clock,
    private readonly write: (row: RefusalRow) => void,
    private readonly windowMs = 1000,
  ) {}

  record(sopName: string, reason: RefusalReason, message: string): void {
    this.count(reason);
    const key = `${reason}\u0000${sopName}`;
    const open = this.windows.get(key);
    if (open !== undefined) {
      open.count++;
      open.message = message;
      return;
    }
    this.write({ sopName, reason, count: 1, message });
    const window: Window = {
      count: 0,
      message,
      timer: this.clock.setTimer(this.windowMs, () => this.close(key, sopName, reason)),
    };
    this.windows.set(key, window);
  }

  /** Counts a refusal that writes no ledger row. */
  count(reason: string): void {
    this.totals.set(reason, (this.totals.get(reason) ?? 0) + 1);
  }

  /** Writes every pending count now (on stop). */
  flush(): void {
    for (const [key, window] of [...this.windows]) {
      window.timer.cancel();
      const [reason, sopName] = key.split('\u0000') as [RefusalReason, string];
      this.close(key, sopName, reason);
    }
  }

  private close(key: string, sopName: string, reason: RefusalReason): void {
    const window = this.windows.get(key);
    this.windows.delete(key);
    if (window !== undefined && window.count > 0) {
      this.write({ sopName, reason, count: window.count, message: window.message });
    }
  }
}
