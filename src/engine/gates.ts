// Which steps wait for approval (the execution modes of docs/sop-format.md). A
// confirmation gate is a person's: no timeout ever passes it. A mode gate may be passed by
// the approval timeout for critical and high priority SOPs.
import type { SopDefinition, Step } from '../sop/types.js';

export type Gate = 'none' | 'mode' | 'confirmation';

export function gateFor(sop: SopDefinition, step: Step): Gate {
  if (step.requires_confirmation) return 'confirmation';
  switch (sop.execution_mode) {
    case 'auto':
      return 'none';
    case 'supervised':
      return step.number === 1 ? 'mode' : 'none';
    case 'step_by_step':
      return 'mode';
    case 'priority_based':
      return sop.priority === 'critical' || sop.priority === 'high' || step.number !== 1 ? 'none' : 'mode';
  }
}

/** Whether a run waiting at this gate is approved by `approval_timeout_secs`. */
export function timeoutApproves(sop: SopDefinition, gate: Gate): boolean {
  return gate === 'mode' && (sop.priority === 'critical' || sop.priority === 'high');
}
