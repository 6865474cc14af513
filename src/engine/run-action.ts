// Runs a built-in step's action on its executor; every outcome, even a throwing
// executor, comes back through `done` exactly once.
import type { Executor, Executors, InlineOutcome, StepContext } from '../executors/types.js';
import type { Step, StepAction, } from '../sop/types.js';
import type { RunState } from './run-state.js';
import { errorMessage } from '../core/errors.js';

export function runAction(
  executors: Executors,
  st: RunState,
  step: Step,
  signal: AbortSignal,
  done: (status: 'completed' | 'failed', output: string) => void,
): void {
  const action = step.action;
  if (action === null) return;
  const executor = executorOf(executors, action);
  if (executor === undefined) {
    queueMicrotask(() => done('failed', `this gateway has no executor for ${action.tool}`));
    return;
  }
  executor.run(action, stepContext(st, step, signal)).then(
    (outcome) => done(outcome.status, outcome.output),
    (err: unknown) => done('failed', `executor error: ${errorMessage(err)}`),
  );
}

/** Nothing aborts an inline action: it is over before anything else happens. */
const NEVER_ABORTED = new AbortController().signal;

/**
 * The step's outcome now if its executor runs actions inline (Executor.inline), else
 * undefined: the action is launched once the step is durable.
 */
export function runInline(executors: Executors, st: RunState, step: Step, action: StepAction): InlineOutcome | undefined {
  const executor = executorOf(executors, action);
  if (executor?.inline === undefined) return undefined;
  try {
    return executor.inline(action, stepContext(st, step, NEVER_ABORTED));
  } catch (err) {
    return { status: 'failed', output: `executor error: ${errorMessage(err)}` };
  }
}

function stepContext(st: RunState, step: Step, signal: AbortSignal): StepContext {
  return {
    runId: st.record.run_id,
    sopName: st.sop.name,
    sopLocation: st.sop.location,
    stepNumber: step.number,
    totalSteps: st.record.total_steps,
    event: st.event(),
    outputs: st.outputs,
    timeoutSecs: step.timeout_secs,
    signal,
  };
}

/**
 * The executor of an action's tool. TypeScript cannot tie `executors[action.tool]` to that
 * same action's type, so the pairing the Executors type guarantees is restated here, once.
 */
function executorOf(executors: Executors, action: StepAction): Executor | undefined {
  return executors[action.tool] as Executor | undefined;
}
