// The SOP model (docs/sop-format.md) and the findings that loading and validation produce.

export const PRIORITIES = ['low', 'normal', 'high', 'critical'] as const;
export type Priority = (typeof PRIORITIES)[number];

export const EXECUTION_MODES = ['auto', 'supervised', 'step_by_step', 'priority_based'] as const;
export type ExecutionMode = (typeof EXECUTION_MODES)[number];

export const TRIGGER_TYPES = ['manual', 'webhook', 'mqtt', 'cron', 'peripheral'] as const;

export type Trigger =
  | { type: 'manual' }
  | { type: 'webhook'; path: string }
  | { type: 'mqtt'; topic: string; condition?: string }
  | { type: 'cron'; expression: string }
  | { type: 'peripheral'; board: string; signal: string; condition?: string };

export const TOOL_NAMES = [
  'shell',
  'http_request',
  'mqtt_publish',
  'gpio_write',
  'serial_write',
  'delay',
  'log',
] as const;
export type ToolName = (typeof TOOL_NAMES)[number];

/** Each tool's arguments, checked and with their defaults applied when the SOP loads (actions.ts). */
export interface ToolArgs {
  shell: Record<string, never>;
  http_request: { url: string; method: string; headers: Record<string, string>; body: string; timeout_secs: number };
  mqtt_publish: { topic: string; payload: string; qos: 0 | 1 | 2; retain: boolean };
  gpio_write: { signal: string; value: 0 | 1; pulse_ms?: number };
  serial_write: { signal: string; data: string; expect?: string; timeout_secs: number };
  delay: { seconds: number };
  log: { message: string; level: 'debug' | 'info' | 'warn' | 'error' };
}

/** An executable step's action: a fenced block whose info string names a built-in tool. */
export type StepAction = {
  [T in ToolName]: {
    tool: T;
    /** The block's text as written (the script, for `shell`). */
    source: string;
    /** The arguments (none for `shell`). */
    args: ToolArgs[T];
  };
}[ToolName];

/** The action of one tool. */
export type ActionOf<T extends ToolName> = Extract<StepAction, { tool: T }>;

/** What a failed step does to its run (`- on_failure:` bullet; default fail). */
export type OnFailure = { policy: 'fail' } | { policy: 'continue' } | { policy: 'retry'; retries: number };

export interface Step {
  number: number;
  title: string;
  body: string;
  suggested_tools: string[];
  requires_confirmation: boolean;
  action: StepAction | null;
  /** `- on_failure: fail | continue | retry N` */
  on_failure: OnFailure;
  /** `- timeout_secs: N`: how long the step's action may run; null = the tool's default. */
  timeout_secs: number | null;
}

/** A step with every optional part at its default: no body, tools, confirmation or action. */
export function newStep(number: number, fields: Partial<Omit<Step, 'number'>> = {}): Step {
  return {
    number,
    title: '',
    body: '',
    suggested_tools: [],
    requires_confirmation: false,
    action: null,
    on_failure: { policy: 'fail' },
    timeout_secs: null,
    ...fields,
  };
}

/**
 * What one SOP may hold, unless `[sops]` in sopgate.toml says otherwise: a SOP file is read
 * only up to this size, and a SOP with more steps or triggers is an error.
 */
export const SOP_LIMITS = { maxFileBytes: 1_048_576, maxSteps: 1000, maxTriggers: 32 } as const;

export interface SopDefinition {
  name: string;
  description: string;
  version: string;
  priority: Priority;
  execution_mode: ExecutionMode;
  cooldown_secs: number;
  max_concurrent: number;
  triggers: Trigger[];
  steps: Step[];
  /** The SOP's folder. */
  location: string;
}

/** One problem found in a SOP or config file; `line` is 1-based, null where the source has none. */
export interface Finding {
  message: string;
  file: string;
  line: number | null;
}

export interface Findings {
  errors: Finding[];
  warnings: Finding[];
}

export function isOneOf<T extends string>(list: readonly T[], value: unknown): value is T {
  return typeof value === 'string' && (list as readonly string[]).includes(value);
}
