// The run object (DESIGN.md §5) and what the engine answers its callers.
import type { GatewayEvent } from '../core/events.js';

export const RUN_STATUSES = ['running', 'waiting_approval', 'completed', 'failed', 'cancelled'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export const TERMINAL: ReadonlySet<RunStatus> = new Set(['completed', 'failed', 'cancelled']);

export type StepStatus = 'completed' | 'failed' | 'skipped';

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

/** Who acted on a run, for the audit ledger. */
export type Actor = 'api' | 'cli' | 'mqtt' | 'gpio' | 'timeout' | 'engine';

export const REFUSALS = ['unknown_sop', 'no_steps', 'concurrency', 'global_concurrency', 'cooldown'] as const;
export type RefusalReason = (typeof REFUSALS)[number];

/** Nothing changed: the state database cannot be written just now (HTTP 503). */
export interface StorageUnavailable {
  ok: false;
  reason: 'storage_unavailable';
  message: string;
  /** Why writes fail, in the database's words. */
  detail: string;
  /** When the gateway tries to write again. */
  retryAfterSecs: number;
}

export type StartResult =
  | { ok: true; run: Run }
  | { ok: false; reason: RefusalReason; message: string; /** cooldown: seconds left */ retryAfterSecs?: number }
  | StorageUnavailable;

/** Why approve/advance/cancel did nothing. */
export type ActionRefusal = 'not_found' | 'not_waiting' | 'waiting_approval' | 'not_external' | 'finished';

export type ActionResult = { ok: true; run: Run } | { ok: false; reason: ActionRefusal; message: string } | StorageUnavailable;

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
