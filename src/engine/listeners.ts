// Who is told about runs (the daemon's run log and MQTT run topics, tests): each listener
// hears every event once it is durable; one that throws is logged and the others still hear.
import type { Logger } from '../core/log.js';
import type { RunState } from './run-state.js';
import type { RunEvent } from '../core/run.js';
import { errorMessage } from '../core/errors.js';

export class RunListeners {
  private readonly listeners = new Set<(event: RunEvent) => void>();
  private readonly externalEnded = new Set<(runId: string) => void>();
  private readonly waitingCount = new Set<(count: number) => void>();
  private countWaiting: () => number = () => 0;
  /** The count last told, so that listeners hear changes only. */
  private toldWaiting = -1;

  constructor(private readonly log: Logger) {}

  /** Returns the function that removes the listener again. */
  add(listener: (event: RunEvent) => void): () => void {
    return subscribe(this.listeners, listener);
  }

  /** Told when a run's external step is over (its result is in); not a run event of its own. */
  addExternalEnded(listener: (runId: string) => void): () => void {
    return subscribe(this.externalEnded, listener);
  }

  /** Told the number of runs waiting for approval when it changes; `count` reads it. */
  addWaitingCount(listener: (count: number) => void, count: () => number): () => void {
    this.countWaiting = count;
    this.toldWaiting = -1;
    return subscribe(this.waitingCount, listener);
  }

  /** A durable change may have started or ended a wait: listeners hear the count if it changed. */
  waitingMayHaveChanged(): void {
    if (this.waitingCount.size === 0) return;
    const count = this.countWaiting();
    if (count === this.toldWaiting) return;
    this.toldWaiting = count;
    this.tell(this.waitingCount, count, 'waiting count');
  }

  externalStepEnded(runId: string): void {
    this.tell(this.externalEnded, runId, 'external step');
  }

  emit(kind: RunEvent['kind'], st: RunState, step?: RunEvent['step']): void {
    if (this.listeners.size === 0) return;
    const event: RunEvent = step === undefined ? { kind, run: st.toRun() } : { kind, run: st.toRun(), step };
    this.tell(this.listeners, event, 'run event');
  }

  private tell<T>(listeners: Set<(value: T) => void>, value: T, what: string): void {
    for (const listener of listeners) {
      try {
        listener(value);
      } catch (err) {
        this.log.log('error', `${what} listener failed: ${errorMessage(err)}`);
      }
    }
  }
}

function subscribe<T>(listeners: Set<T>, listener: T): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
