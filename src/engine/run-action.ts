// Runs a built-in step's action on its executor; every outcome, even a throwing
// executor, comes back through `done` exactly once.
import type { Executor } from '../executors/types.js';
import type { Step, ToolName } from '../sop/types.js';
import type { RunState } from './run-state.js';
import { errorMessage } from '../errors.js';

export function runAction(
  executors: Partial<Record<ToolName, Executor>>,
  st: RunState,
  step: Step,
  signal: AbortSignal,
  done: (status: 'completed' | 'failed', output: string) => void,
): void {
  const action = step.action;
  if (action === null) return;
  const executor = executors[action.tool];
  if (executor === undefined) {
    queueMicrotask(() => done('failed', `this gateway has no executor for ${action.tool}`));
    return;
  }
  executor
    .run(action, {
      runId: st.record.run_id,
      sopName: st.sop.name,
      sopLocation: st.sop.location,
      stepNumber: step.number,
      totalSteps: st.record.total_steps,
      event: st.event(),
      outputs: st.outputs,
      timeoutSecs: step.timeout_secs,
      signal,
    })
    .then(
      (outcome) => done(outcome.status, outcome.output),
      (err: unknown) => done('failed', `executor error: ${errorMessage(err)}`),
    );
}
