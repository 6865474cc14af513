// A status LED: blinks while anything waits for someone to approve it, and is off
// otherwise, so an operator at the panel sees that a press is expected.
import type { Level } from '../../config/board-profile.js';
import type { Clock, TimerHandle } from '../../core/clock.js';

export const BLINK_MS = 500;

export class StatusLed {
  private waiting = 0;
  private lit: Level = 0;
  private timer: TimerHandle | null = null;

  constructor(
    private readonly write: (level: Level) => unknown,
    private readonly clock: Clock,
    private readonly periodMs = BLINK_MS,
  ) {}

  /** How many runs wait for approval now: above 0 blinks, 0 turns the LED off. */
  setWaiting(count: number): void {
    const was = this.waiting;
    this.waiting = Math.max(0, count);
    if (was === 0 && this.waiting > 0) this.toggle();
    else if (was > 0 && this.waiting === 0) this.off();
  }

  /** Stops blinking without writing (the board is stopping). */
  stop(): void {
    this.timer?.cancel();
    this.timer = null;
    this.waiting = 0;
  }

  private toggle(): void {
    this.lit = this.lit === 1 ? 0 : 1;
    this.write(this.lit);
    this.timer = this.clock.setTimer(this.periodMs, () => this.toggle());
  }

  private off(): void {
    this.timer?.cancel();
    this.timer = null;
    this.lit = 0;
    this.write(0);
  }
}
