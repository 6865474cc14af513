// How far the engine's writes are behind: state changes queued or written but not yet
// durable, each of which holds its run, its ledger rows and its effects in memory. A
// source that can wait (the broker stops reading a client's socket) asks `whenCaughtUp`
// before it takes more: past `high` changes it waits until the backlog is down to `low`,
// so that a flood waits in the sensors and the kernel, not in the heap.

export class WriteBacklog {
  private count = 0;
  /** Latched at `high`, cleared at `low`: callers resume together, not one change at a time. */
  private behind = false;
  private waiting: (() => void)[] = [];
  /** Times the backlog reached `high` (sopgate_store_backlog_full_total). */
  fills = 0;

  constructor(
    readonly high: number,
    readonly low: number,
  ) {}

  get size(): number {
    return this.count;
  }

  /** `n` more changes wait for the disk. */
  add(n: number): void {
    this.count += n;
    if (!this.behind && this.count >= this.high) {
      this.behind = true;
      this.fills++;
    }
  }

  /** `n` changes are durable, or failed: either way nobody waits for them any more. */
  settle(n: number): void {
    this.count -= n;
    if (!this.behind || this.count > this.low) return;
    this.behind = false;
    // In arrival order; a caller that fills the backlog again leaves the rest waiting, ahead
    // of any that came meanwhile.
    const waiting = this.waiting;
    this.waiting = [];
    let i = 0;
    while (!this.behind && i < waiting.length) waiting[i++]!();
    if (i < waiting.length) this.waiting = [...waiting.slice(i), ...this.waiting];
  }

  /** Calls `go` now, or once the backlog has drained to `low` if it is full. */
  whenCaughtUp(go: () => void): void {
    if (this.behind) this.waiting.push(go);
    else go();
  }
}
