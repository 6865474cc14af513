// Action blocks (docs/sop-format.md): a fenced block whose info string
// names a built-in tool. `shell` blocks are scripts; every other tool takes TOML
// arguments, checked here against the built-in tools table so that a typo or a
// wrong type is a load-time finding instead of a surprise in the middle of a run.

import { describeValue, isTable } from '../toml/schema.js';
import { parseToml } from '../toml/parse.js';
import { TomlLines } from '../toml/lines.js';
import type { Finding, StepAction, ToolName } from './types.js';

/** One argument of a tool: how to read it and what to say when it is wrong. */
interface ArgSpec {
  /** Completes "must be …" in error messages. */
  expect: string;
  required?: true;
  /** Applied when the argument is absent (cloned, so callers may mutate args). */
  default?: unknown;
  /** The normalized value, or undefined when the value is not acceptable. */
  read: (value: unknown) => unknown;
}

const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
const LOG_LEVELS = ['debug', 'info', 'warn', 'error'];

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

const anyString = (v: unknown) => (typeof v === 'string' ? v : undefined);
// Names (topics, signals) are looked up later; an empty one can never match anything.
const nonEmptyString = (v: unknown) => (typeof v === 'string' && v.trim() !== '' ? v : undefined);
const positiveNumber = (v: unknown) => (isNumber(v) && v > 0 ? v : undefined);
const nonNegativeNumber = (v: unknown) => (isNumber(v) && v >= 0 ? v : undefined);
const positiveInteger = (v: unknown) => (isNumber(v) && Number.isInteger(v) && v > 0 ? v : undefined);
const boolean = (v: unknown) => (typeof v === 'boolean' ? v : undefined);
const oneOfNumbers = (allowed: number[]) => (v: unknown) =>
  isNumber(v) && allowed.includes(v) ? v : undefined;

/** Case-insensitive choice, stored in the list's own case. */
const oneOfWords = (allowed: string[]) => (v: unknown) =>
  typeof v === 'string' ? allowed.find((a) => a.toLowerCase() === v.trim().toLowerCase()) : undefined;

function httpUrl(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  try {
    const url = new URL(v);
    return url.protocol === 'http:' || url.protocol === 'https:' ? v : undefined;
  } catch {
    return undefined;
  }
}

/** TOML tables come back with a null prototype; hand out plain objects. */
function stringTable(v: unknown): Record<string, string> | undefined {
  if (!isTable(v)) return undefined;
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(v)) {
    if (typeof value !== 'string') return undefined;
    out[key] = value;
  }
  return out;
}

/** A pattern that compiles, so that a typo is a load-time finding rather than a failed step. */
function regexSource(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  try {
    new RegExp(v);
    return v;
  } catch {
    return undefined;
  }
}

function mqttTopic(v: unknown): string | undefined {
  // MQTT 3.1.1 §4.7.1: wildcards are only for subscriptions, never in a PUBLISH topic.
  const topic = nonEmptyString(v);
  return topic !== undefined && !/[+#]/.test(topic) ? topic : undefined;
}

const SPECS: Record<Exclude<ToolName, 'shell'>, Record<string, ArgSpec>> = {
  http_request: {
    url: { expect: 'an http:// or https:// URL string', required: true, read: httpUrl },
    method: { expect: `one of ${HTTP_METHODS.join(', ')}`, default: 'GET', read: oneOfWords(HTTP_METHODS) },
    headers: { expect: 'a table of strings', default: {}, read: stringTable },
    body: { expect: 'a string', default: '', read: anyString },
    timeout_secs: { expect: 'a positive number', default: 10, read: positiveNumber },
  },
  mqtt_publish: {
    topic: { expect: 'a non-empty topic string without + or # wildcards', required: true, read: mqttTopic },
    payload: { expect: 'a string', default: '', read: anyString },
    qos: { expect: '0, 1 or 2', default: 0, read: oneOfNumbers([0, 1, 2]) },
    retain: { expect: 'true or false', default: false, read: boolean },
  },
  gpio_write: {
    signal: { expect: 'a non-empty string', required: true, read: nonEmptyString },
    value: { expect: '0 or 1', required: true, read: oneOfNumbers([0, 1]) },
    pulse_ms: { expect: 'a positive integer', read: positiveInteger },
  },
  serial_write: {
    signal: { expect: 'a non-empty string', required: true, read: nonEmptyString },
    data: { expect: 'a string', required: true, read: anyString },
    expect: { expect: 'a valid regular expression', read: regexSource },
    timeout_secs: { expect: 'a positive number', default: 5, read: positiveNumber },
  },
  delay: {
    seconds: { expect: 'a non-negative number', required: true, read: nonNegativeNumber },
  },
  log: {
    message: { expect: 'a string', required: true, read: anyString },
    level: { expect: `one of ${LOG_LEVELS.join(', ')}`, default: 'info', read: oneOfWords(LOG_LEVELS) },
  },
};

/**
 * Parses one action block. `line` is the block's opening fence line, so line k of
 * the block's text is file line `line + k`. On any error the action is null.
 */
export function parseAction(
  tool: ToolName,
  source: string,
  file: string,
  line: number,
): { action: StepAction | null; errors: Finding[] } {
  const errors: Finding[] = [];
  const fail = (message: string, at: number = line) => errors.push({ message, file, line: at });

  if (tool === 'shell') {
    if (source.trim() === '') {
      fail('shell block: the script is empty');
      return { action: null, errors };
    }
    return { action: { tool, source, args: {} }, errors };
  }

  const parsed = parseToml(source);
  if (!parsed.ok) {
    const at = parsed.line === null ? '' : ` at line ${parsed.line}, column ${parsed.column ?? 1}`;
    fail(`${tool} block: invalid TOML${at}: ${parsed.message}`, parsed.line === null ? line : line + parsed.line);
    return { action: null, errors };
  }
  const raw = parsed.data;
  const specs = SPECS[tool];
  // Where a key is written, so a wrong value points at its own line, not just the fence.
  const lines = new TomlLines(source);
  const keyLine = (key: string): number => {
    const at = lines.key('', key) ?? lines.header(key);
    return at === null ? line : line + at;
  };

  for (const key of Object.keys(raw)) {
    // Typos such as `timeout = 5` must not fall back to a default silently.
    if (!Object.hasOwn(specs, key)) fail(`${tool} block: unknown argument "${key}"`, keyLine(key));
  }

  const args: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(specs)) {
    if (!Object.hasOwn(raw, key)) {
      if (spec.required) fail(`${tool} block: missing required argument "${key}"`);
      else if (spec.default !== undefined) args[key] = structuredClone(spec.default);
      continue;
    }
    const value = spec.read(raw[key]);
    if (value === undefined) fail(`${tool} block: argument "${key}" must be ${spec.expect}, got ${describeValue(raw[key])}`, keyLine(key));
    else args[key] = value;
  }

  if (errors.length > 0) return { action: null, errors };
  // Every argument was read by its spec above, which gives it the type ToolArgs names.
  return { action: { tool, source, args } as StepAction, errors };
}
