// What an operator or an agent needs to carry out an external step, as data and as text.
import type { SopDefinition, Step } from '../sop/types.js';
import type { Run, StepHandoff } from '../core/run.js';

export function stepHandoff(sop: SopDefinition, run: Run, step: Step): StepHandoff {
  const previous = run.step_results.filter((r) => r.step_number < step.number).at(-1) ?? null;
  const t = run.trigger_event;
  const lines = [
    `SOP ${sop.name} (${sop.priority} priority), run ${run.run_id}`,
    `Step ${step.number} of ${run.total_steps}: ${step.title}`,
    `Trigger: ${t.source}${t.topic === null ? '' : ` ${t.topic}`}${t.payload === null ? '' : `, payload ${t.payload}`}`,
  ];
  if (previous !== null) lines.push(`Previous step ${previous.step_number}: ${previous.status}${previous.output === '' ? '' : `: ${previous.output}`}`);
  if (step.body !== '') lines.push('', step.body);
  if (step.suggested_tools.length > 0) lines.push('', `Suggested tools: ${step.suggested_tools.join(', ')}`);
  if (step.requires_confirmation) lines.push('This step requires confirmation by a person.');
  return {
    sop_name: sop.name,
    run_id: run.run_id,
    step_number: step.number,
    total_steps: run.total_steps,
    title: step.title,
    body: step.body,
    suggested_tools: [...step.suggested_tools],
    requires_confirmation: step.requires_confirmation,
    trigger: { ...t },
    previous_step: previous === null ? null : { ...previous },
    text: lines.join('\n'),
  };
}
