// SOP.toml (docs/sop-format.md): the [sop] table and its [[triggers]], checked key by key so an
// operator gets every problem at once, each with its line.
import { int, isTable, oneOf, readTable, str, type TableIssue } from '../toml/schema.js';
import { parseToml, tomlErrorText } from '../toml/parse.js';
import { TomlLines } from '../toml/lines.js';
import { compileCondition } from '../expressions/condition.js';
import { compileCron } from '../expressions/cron.js';
import { validateTopicFilter } from '../expressions/topic.js';
import {
  EXECUTION_MODES,
  PRIORITIES,
  SOP_LIMITS,
  TRIGGER_TYPES,
  isOneOf,
  type ExecutionMode,
  type Finding,
  type SopDefinition,
  type Trigger,
} from './types.js';

export interface SopTomlOptions {
  defaultExecutionMode: ExecutionMode;
  /** Timezone cron expressions are checked in. */
  timezone: string;
  /** More [[triggers]] is an error, and those past it are not read ([sops] max_triggers). */
  maxTriggers?: number;
}

/** Everything SOP.toml defines: the SOP minus its steps (SOP.md) and location. */
export type SopHeader = Omit<SopDefinition, 'steps' | 'location'>;

export interface SopTomlResult {
  /** null when the file is not TOML or has no [sop] table. */
  header: SopHeader | null;
  errors: Finding[];
  warnings: Finding[];
}

/** Webhooks reach the gateway only on these paths (docs/http-api.md). */
const WEBHOOK_ROUTES = /^\/(webhook$|sop\/.)/;

export function parseSopToml(source: string, file: string, options: SopTomlOptions): SopTomlResult {
  const errors: Finding[] = [];
  const warnings: Finding[] = [];
  const parsed = parseToml(source);
  if (!parsed.ok) {
    errors.push({ message: tomlErrorText(parsed), file, line: parsed.line });
    return { header: null, errors, warnings };
  }
  const lines = new TomlLines(source);
  const at = (table: string, key: string | null): number | null =>
    key === null ? lines.header(table) : lines.keyOrHeader(table, key);
  const issue = (table: string, where: string) => (i: TableIssue) => {
    const finding = { message: `${where}: ${i.message}`, file, line: at(table, i.key) };
    (i.unknown ? warnings : errors).push(finding);
  };

  const data = parsed.data;
  for (const key of Object.keys(data)) {
    if (key !== 'sop' && key !== 'triggers') {
      warnings.push({ message: `unknown top-level key "${key}"`, file, line: lines.keyOrHeader('', key) ?? lines.header(key) });
    }
  }
  if (!isTable(data.sop)) {
    errors.push({ message: 'missing [sop] table', file, line: data.sop === undefined ? null : lines.key('', 'sop') });
    return { header: null, errors, warnings };
  }

  const sop = readTable(
    data.sop,
    {
      name: str(),
      description: str(),
      version: str('0.1.0'),
      priority: oneOf(PRIORITIES, 'normal'),
      execution_mode: oneOf(EXECUTION_MODES, options.defaultExecutionMode),
      cooldown_secs: int(0, 0),
      max_concurrent: int(1, 1),
    },
    issue('sop', '[sop]'),
  );
  for (const key of ['name', 'description'] as const) {
    if (sop[key] !== undefined && sop[key].trim() === '') {
      warnings.push({ message: `[sop]: ${key} is empty`, file, line: at('sop', key) });
    }
  }

  const triggers: Trigger[] = [];
  const rawTriggers = data.triggers ?? [];
  if (!Array.isArray(rawTriggers)) {
    errors.push({ message: 'triggers must be an array of tables ([[triggers]])', file, line: lines.key('', 'triggers') });
  } else {
    // Checking a cron expression that never fires costs croner milliseconds (it searches
    // centuries ahead): the count is bounded before any is checked.
    const max = options.maxTriggers ?? SOP_LIMITS.maxTriggers;
    if (rawTriggers.length > max) {
      errors.push({ message: `${rawTriggers.length} triggers, more than the ${max} allowed ([sops] max_triggers)`, file, line: lines.header(`triggers#${max}`) });
    }
    rawTriggers.slice(0, max).forEach((raw, index) => {
      const trigger = readTrigger(raw, index, options, (message, key) => {
        errors.push({ message, file, line: at(`triggers#${index}`, key) });
      }, (message, key) => {
        warnings.push({ message, file, line: at(`triggers#${index}`, key) });
      });
      if (trigger !== null) triggers.push(trigger);
    });
  }

  return {
    header: {
      name: sop.name ?? '',
      description: sop.description ?? '',
      version: sop.version,
      priority: sop.priority,
      execution_mode: sop.execution_mode,
      cooldown_secs: sop.cooldown_secs,
      max_concurrent: sop.max_concurrent,
      triggers,
    },
    errors,
    warnings,
  };
}

type Report = (message: string, key: string | null) => void;

/** Reads one [[triggers]] entry; null when it cannot be used. */
function readTrigger(raw: unknown, index: number, options: SopTomlOptions, error: Report, warn: Report): Trigger | null {
  const label = `trigger ${index + 1}`;
  if (!isTable(raw)) {
    error(`${label} must be a table`, null);
    return null;
  }
  if (raw.type === undefined) {
    error(`${label}: missing required key "type" (one of ${TRIGGER_TYPES.join(', ')})`, null);
    return null;
  }
  if (!isOneOf(TRIGGER_TYPES, raw.type)) {
    error(`${label}: unknown trigger type ${JSON.stringify(raw.type)} (expected one of ${TRIGGER_TYPES.join(', ')})`, 'type');
    return null;
  }
  const type = raw.type;
  const where = `${label} (${type})`;
  let ok = true;
  const issue = (i: TableIssue): void => {
    if (i.unknown) warn(`${where}: ${i.message}`, i.key);
    else {
      ok = false;
      error(`${where}: ${i.message}`, i.key);
    }
  };
  const { type: _type, ...fields } = raw;

  switch (type) {
    case 'manual':
      readTable(fields, {}, issue);
      return { type };
    case 'webhook': {
      const t = readTable(fields, { path: str() }, issue);
      if (t.path === undefined || !ok) return null;
      if (!t.path.startsWith('/')) {
        error(`${where}: path ${JSON.stringify(t.path)} must start with "/"`, 'path');
        return null;
      }
      if (!WEBHOOK_ROUTES.test(t.path)) {
        warn(`${where}: path ${t.path} is never served: webhooks arrive on /webhook and /sop/<name>`, 'path');
      }
      return { type, path: t.path };
    }
    case 'mqtt': {
      const t = readTable(fields, { topic: str(), condition: str('') }, issue);
      if (t.topic === undefined || !ok) return null;
      const bad = validateTopicFilter(t.topic);
      if (bad !== null) {
        error(`${where}: invalid topic filter ${JSON.stringify(t.topic)}: ${bad}`, 'topic');
        return null;
      }
      if (!checkCondition(t.condition, where, error)) return null;
      return t.condition.trim() === '' ? { type, topic: t.topic } : { type, topic: t.topic, condition: t.condition };
    }
    case 'cron': {
      const t = readTable(fields, { expression: str() }, issue);
      if (t.expression === undefined || !ok) return null;
      const compiled = compileCron(t.expression, options.timezone);
      if (!compiled.ok) {
        error(`${where}: ${compiled.error}`, 'expression');
        return null;
      }
      compiled.cron.stop();
      return { type, expression: t.expression };
    }
    case 'peripheral': {
      const t = readTable(fields, { board: str(), signal: str(), condition: str('') }, issue);
      if (t.board === undefined || t.signal === undefined || !ok) return null;
      for (const key of ['board', 'signal'] as const) {
        if (t[key].trim() === '' || t[key].includes('/')) {
          error(`${where}: ${key} must be a non-empty name without "/"`, key);
          ok = false;
        }
      }
      if (!ok || !checkCondition(t.condition, where, error)) return null;
      const trigger: Trigger = { type, board: t.board, signal: t.signal };
      return t.condition.trim() === '' ? trigger : { ...trigger, condition: t.condition };
    }
  }
}

function checkCondition(condition: string, where: string, error: Report): boolean {
  if (condition.trim() === '') return true;
  const compiled = compileCondition(condition);
  if (!compiled.ok) error(`${where}: ${compiled.error}`, 'condition');
  return compiled.ok;
}
