// The executor interface: one built-in tool each (docs/sop-format.md).
import type { Clock } from '../core/clock.js';
import type { GatewayEvent } from '../core/events.js';
import type { Logger } from '../core/log.js';
import type { ActionOf, StepAction, ToolName } from '../sop/types.js';

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

/** An outcome known at once, and what the action does once that outcome is durable. */
export interface InlineOutcome extends StepOutcome {
  effect?: () => void;
}

export interface Executor<A extends StepAction = StepAction> {
  /** Never rejects: every failure is a `failed` outcome with a readable output. */
  run(action: A, ctx: StepContext): Promise<StepOutcome>;
  /**
   * For an action that needs nothing from outside the gateway and whose effect may wait
   * until its result is on disk (`log`): the engine runs it within the transaction that
   * reaches its step, so the step costs no commit and no fdatasync of its own, and the
   * effect runs once that transaction is durable. Never throws.
   */
  inline?(action: A, ctx: StepContext): InlineOutcome;
}

export interface ExecutorDeps {
  clock: Clock;
  logger: Logger;
}

/** The executor of each tool a gateway can run. */
export type Executors = { [T in ToolName]?: Executor<ActionOf<T>> };
