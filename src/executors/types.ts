// The executor interface: one built-in tool each (DESIGN.md §2 built-in tools).
import type { Clock } from '../engine/clock.js';
import type { GatewayEvent } from '../events.js';
import type { Logger } from '../log.js';
import type { StepAction } from '../sop/types.js';

/** What a step's action may see of its run. */
export interface StepContext {
  runId: string;
  sopName: string;
  /** The SOP's folder: shell scripts run there. */
  sopLocation: string;
  stepNumber: number;
  totalSteps: number;
  event: GatewayEvent;
  /** Outputs of the run's finished steps by number, for `{{steps.N.output}}`. */
  outputs: ReadonlyMap<number, string>;
  /** The step's `- timeout_secs:` bullet, if any. */
  timeoutSecs: number | null;
  /** Aborted when the run is cancelled or the gateway stops. */
  signal: AbortSignal;
}

export interface StepOutcome {
  status: 'completed' | 'failed';
  output: string;
}

export interface Executor {
  /** Never rejects: every failure is a `failed` outcome with a readable output. */
  run(action: StepAction, ctx: StepContext): Promise<StepOutcome>;
}

export interface ExecutorDeps {
  clock: Clock;
  logger: Logger;
}
