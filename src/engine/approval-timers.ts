// Approval timeouts (`[engine] approval_timeout_secs`): a run waiting at a gate the
// timeout may pass is approved once the time is up, counted from when it began to wait
// (stored, so a restart does not start the count again).
import type { Clock } from '../core/clock.js';
import { gateFor, timeoutApproves } from './gates.js';
import type { RunState, Tx } from './run-state.js';

export class ApprovalTimers {
  private closed = false;

  constructor(
    private readonly clock: Clock,
    /** 0 = never. */
    private readonly secs: number,
    /** The time is up for `st`, which began to wait at `waitingSince`. */
    private readonly due: (st: RunState, waitingSince: string) => void,
  ) {}

  /** Arms the timer of a run that waits at its current step's gate, if the timeout may pass it. */
  arm(st: RunState): void {
    const step = st.step();
    const since = st.record.waiting_since;
    if (this.closed || this.secs <= 0 || step === undefined || since === null || !timeoutApproves(st.sop, gateFor(st.sop, step))) return;
    const now = this.clock.now();
    const ms = this.secs * 1000;
    // A wait that began "in the future" means the wall clock went back: it lasts the timeout, no longer.
    const due = Math.min(Date.parse(since) + ms, now + ms);
    st.timer?.cancel();
    st.timer = this.clock.setTimer(due - now, () => {
      st.timer = undefined;
      this.due(st, since);
    });
  }

  /** Cancels a run's timer; if `tx` is taken back, the timer is armed again. */
  cancel(tx: Tx, st: RunState): void {
    if (st.timer === undefined) return;
    st.timer.cancel();
    st.timer = undefined;
    tx.onRollback(() => this.arm(st));
  }

  /** Arms nothing more (the engine stops). */
  close(): void {
    this.closed = true;
  }
}
