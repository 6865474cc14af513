// A run as lists show it: the run object with its long text cut. A list of a thousand
// runs whose payloads and outputs are 64 KiB each would be hundreds of megabytes and
// seconds of a blocked event loop; one run (GET /api/runs/<id>) keeps its full text.
import { cutText } from '../core/text.js';
import type { Run, StepResult } from '../core/run.js';

/** Bytes (UTF-8) kept of a trigger's topic and payload, a step's output and a run's reason. */
export const PREVIEW_BYTES = 256;

/** A run object whose cut fields say so: `<field>_truncated: true` beside each one cut. */
export interface RunPreview extends Omit<Run, 'trigger_event' | 'step_results'> {
  trigger_event: Run['trigger_event'] & { topic_truncated?: true; payload_truncated?: true };
  step_results: (StepResult & { output_truncated?: true })[];
  reason_truncated?: true;
}

/** The preview of `run`; its text may already be cut short by the store (see RunStore.getRunCut). */
export function previewRun(run: Run): RunPreview {
  const t = run.trigger_event;
  const topic = cutNullable(t.topic);
  const payload = cutNullable(t.payload);
  const reason = cutNullable(run.reason);
  const preview: RunPreview = {
    run_id: run.run_id,
    sop_name: run.sop_name,
    status: run.status,
    current_step: run.current_step,
    total_steps: run.total_steps,
    trigger_event: {
      source: t.source,
      topic: topic.text,
      ...(topic.cut ? { topic_truncated: true as const } : {}),
      payload: payload.text,
      ...(payload.cut ? { payload_truncated: true as const } : {}),
      timestamp: t.timestamp,
    },
    started_at: run.started_at,
    completed_at: run.completed_at,
    waiting_since: run.waiting_since,
    step_results: run.step_results.map((s) => {
      const output = cutText(s.output, PREVIEW_BYTES);
      return {
        step_number: s.step_number,
        status: s.status,
        output: output.text,
        ...(output.cut ? { output_truncated: true as const } : {}),
        started_at: s.started_at,
        completed_at: s.completed_at,
      };
    }),
    reason: reason.text,
  };
  if (reason.cut) preview.reason_truncated = true;
  return preview;
}

function cutNullable(text: string | null): { text: string | null; cut: boolean } {
  return text === null ? { text, cut: false } : cutText(text, PREVIEW_BYTES);
}
