// Software debounce, the same for every backend: the first edge after a settled level opens
// a window of `ms`; edges inside it are only remembered, and when it closes the line's level
// then is what counts. A press that bounces is one change; a bounce that ends where it
// began is none. A fixed window (not one that restarts on every edge) bounds the delay even
// on a line that never stops chattering.
import type { Level } from '../../config/board-profile.js';
import type { Clock, TimerHandle } from '../../core/clock.js';

export class Debouncer {
  /** The level last reported (or known at start); null until the first edge tells. */
  private settled: Level | null = null;
  private raw: Level | null = null;
  private window: TimerHandle | null = null;

  constructor(
    private readonly ms: number,
    private readonly clock: Clock,
    private readonly onChange: (level: Level) => void,
  ) {}

  /** The settled level, or null when not known yet. */
  get level(): Level | null {
    return this.settled;
  }

  /** A level known without an edge (read at start): no change is reported for it. */
  know(level: Level): void {
    this.raw = level;
    if (this.window === null) this.settled = level;
  }

  /** An edge: the line's level after it. */
  edge(level: Level): void {
    // An edge to `level` means the line was at the other level before it.
    if (this.settled === null) this.settled = level === 1 ? 0 : 1;
    this.raw = level;
    if (this.ms === 0) this.close();
    else this.window ??= this.clock.setTimer(this.ms, () => this.close());
  }

  /** Drops a window in progress (the board is stopping). */
  cancel(): void {
    this.window?.cancel();
    this.window = null;
  }

  private close(): void {
    this.window = null;
    if (this.raw === null || this.raw === this.settled) return;
    this.settled = this.raw;
    this.onChange(this.raw);
  }
}
