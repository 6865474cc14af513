// What the engine counts for /metrics: runs started and finished, step durations by tool.
import type { StorageStatus } from './storage-guard.js';

export interface EngineStats {
  active: number;
  activeByStatus: { running: number; waiting_approval: number };
  runsStarted: number;
  runsFinished: Record<'completed' | 'failed' | 'cancelled', number>;
  refusals: Record<string, number>;
  /** Finished steps by tool ("external" for reported steps): how many, and their total duration. */
  steps: Record<string, { count: number; seconds: number }>;
  /** Transactions written: every state change of one turn of the event loop goes in one. */
  commits: number;
  /** State changes queued or written but not yet durable; times that reached the engine's bound. */
  backlog: { size: number; fills: number };
  /** Whether the state database takes writes. */
  storage: StorageStatus;
}

export class EngineCounters {
  started = 0;
  readonly finished = { completed: 0, failed: 0, cancelled: 0 };
  private readonly steps = new Map<string, { count: number; seconds: number }>();

  step(tool: string, seconds: number): void {
    const times = this.steps.get(tool) ?? { count: 0, seconds: 0 };
    times.count++;
    times.seconds += Math.max(0, seconds);
    this.steps.set(tool, times);
  }

  snapshot(): Pick<EngineStats, 'runsStarted' | 'runsFinished' | 'steps'> {
    return {
      runsStarted: this.started,
      runsFinished: { ...this.finished },
      steps: Object.fromEntries([...this.steps].map(([tool, t]) => [tool, { ...t }])),
    };
  }
}
