// The run model every layer shares: the run object with its status lists, the events that
// announce its changes, and the one reader of a reported step result (HTTP and MQTT alike).
import type { GatewayEvent } from './events.js';

export const RUN_STATUSES = ['running', 'waiting_approval', 'completed', 'failed', 'cancelled'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const TERMINAL: ReadonlySet<RunStatus> = new Set(['completed', 'failed', 'cancelled']);

export const STEP_STATUSES = ['completed', 'failed', 'skipped'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

export interface StepResult {
  step_number: number;
  status: StepStatus;
  output: string;
  started_at: string;
  completed_at: string;
}

export interface Run {
  run_id: string;
  sop_name: string;
  status: RunStatus;
  current_step: number;
  total_steps: number;
  trigger_event: { source: GatewayEvent['source']; topic: string | null; payload: string | null; timestamp: string };
  started_at: string;
  completed_at: string | null;
  waiting_since: string | null;
  step_results: StepResult[];
  /** Why a run failed or was cancelled (null otherwise). */
  reason: string | null;
}

/** What the engine tells the outside world (MQTT topics `<prefix>/runs/<id>/<event>`). */
export type RunEventKind = 'started' | 'step' | 'waiting_approval' | 'completed' | 'failed' | 'cancelled';

/** The context an operator or agent needs to carry out an external step. */
export interface StepHandoff {
  sop_name: string;
  run_id: string;
  step_number: number;
  total_steps: number;
  title: string;
  body: string;
  suggested_tools: string[];
  requires_confirmation: boolean;
  trigger: Run['trigger_event'];
  previous_step: StepResult | null;
  /** The same, as text for a person or a language model. */
  text: string;
}

export interface RunEvent {
  kind: RunEventKind;
  run: Run;
  step?: StepHandoff;
}

/** An external step's result as reported (POST .../advance, MQTT .../result). */
export interface ReportedResult {
  status: StepStatus;
  output: string;
}

/**
 * `{"status": "completed" | "failed" | "skipped", "output"?: string}` read from untrusted
 * text: the result, or what is wrong with it. A missing or null output is empty.
 */
export function parseStepResult(text: string): ReportedResult | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'not JSON: expected {"status": "completed" | "failed" | "skipped", "output": "..."}';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const { status, output } = value as Record<string, unknown>;
  if (!(STEP_STATUSES as readonly unknown[]).includes(status)) return `status must be one of ${STEP_STATUSES.join(', ')}`;
  if (output !== undefined && output !== null && typeof output !== 'string') return 'output must be a string';
  return { status: status as StepStatus, output: output ?? '' };
}
