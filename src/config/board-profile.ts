// Board profiles (boards/*.toml): a [board] table and [signals.<name>] tables naming the
// GPIO lines and serial ports of one board. Read like sopgate.toml: every problem with its
// file and line, defaults applied, frozen. sopgate.toml lists the profiles in use
// (`boards = [...]`); loadBoardProfiles reads them all and checks names across them.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Finding } from '../sop/types.js';
import { bool, describeValue, int, isTable, oneOf, readTable, str, strList, type Spec, type TableIssue } from '../toml/schema.js';
import { parseToml, tomlErrorText } from '../toml/parse.js';
import { TomlLines } from '../toml/lines.js';

export const GPIO_BACKENDS = ['gpiod', 'sysfs', 'sim'] as const;
export type GpioBackendName = (typeof GPIO_BACKENDS)[number];
export const SIGNAL_TYPES = ['gpio_in', 'gpio_out', 'serial'] as const;
export type SignalType = (typeof SIGNAL_TYPES)[number];
export const EDGES = ['rising', 'falling', 'both'] as const;
export type Edge = (typeof EDGES)[number];
export const BIASES = ['pull-up', 'pull-down', 'disabled', 'as-is'] as const;
export type Bias = (typeof BIASES)[number];
export const SERIAL_FORMATS = ['line', 'kv', 'json'] as const;
export type SerialFormat = (typeof SERIAL_FORMATS)[number];

/** A line name ("GPIO17") or an offset on the board's chip. */
export type LineRef = string | number;
export type Level = 0 | 1;

export interface GpioInSignal {
  readonly type: 'gpio_in';
  readonly name: string;
  readonly line: LineRef;
  /** Which changes of the logical value are events. */
  readonly edge: Edge;
  readonly bias: Bias;
  readonly active_low: boolean;
  readonly debounce_ms: number;
  /** A press approves the oldest run waiting for approval (of `sop` only, when set); null = not an approval button. */
  readonly approve: { readonly sop: string | null } | null;
}

export interface GpioOutSignal {
  readonly type: 'gpio_out';
  readonly name: string;
  readonly line: LineRef;
  /** Logical value set when the gateway starts. */
  readonly initial: Level;
  readonly active_low: boolean;
}

export interface SerialSignal {
  readonly type: 'serial';
  readonly name: string;
  /** null on a sim board, where no port is opened. */
  readonly path: string | null;
  readonly baud: number;
  readonly format: SerialFormat;
  readonly delimiter: string;
  readonly max_line_bytes: number;
  /** kv only: the keys the device reports, so validate can check triggers; null = not declared. */
  readonly keys: readonly string[] | null;
}

export type SignalConfig = GpioInSignal | GpioOutSignal | SerialSignal;

export interface BoardProfile {
  /** The <board> of events, triggers and actions ("<board>/<signal>"). */
  readonly name: string;
  readonly gpio: GpioBackendName;
  /** Chip lines are looked up on; null = find each line by its name. */
  readonly chip: string | null;
  /** A gpio_out that blinks while any run waits for approval. */
  readonly status_led: string | null;
  /** In the order written. */
  readonly signals: ReadonlyMap<string, SignalConfig>;
  /** The profile file (absolute). */
  readonly file: string;
}

export interface BoardProfilesResult {
  /** Best effort: signals with errors are left out. Start hardware only when `errors` is empty. */
  boards: BoardProfile[];
  errors: Finding[];
  warnings: Finding[];
}

const MAX_LINE_BYTES = 1024 * 1024;

/** Why `name` cannot be one level of an event topic ("<board>/<signal>"), or null. */
export function topicLevelProblem(name: string): string | null {
  if (name === '') return 'it is empty';
  if (/[/+#]/.test(name)) return 'it contains "/", "+" or "#"';
  if (name.startsWith('$')) return 'it starts with "$"';
  if (/[\u0000-\u001f\u007f]/.test(name)) return 'it contains a control character';
  return null;
}

const lineRef: Spec<LineRef> = {
  expected: 'a line name such as "GPIO17" or an offset (a non-negative integer)',
  fallback: undefined,
  accepts: (v): v is LineRef => (typeof v === 'string' && v.trim() !== '') || (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0),
};
const level = (fallback: Level): Spec<Level> => ({ expected: '0 or 1', fallback, accepts: (v): v is Level => v === 0 || v === 1 });
const approveSpec: Spec<boolean | string> = {
  expected: 'true, false or a SOP name',
  fallback: false,
  accepts: (v): v is boolean | string => typeof v === 'boolean' || (typeof v === 'string' && v.trim() !== ''),
};

const BOARD = { name: str(), gpio: oneOf(GPIO_BACKENDS, 'gpiod'), chip: str(''), status_led: str('') };
const GPIO_IN = {
  type: str(),
  line: lineRef,
  edge: oneOf(EDGES, 'both'),
  bias: oneOf(BIASES, 'as-is'),
  active_low: bool(false),
  debounce_ms: int(0, 20),
  approve: approveSpec,
};
const GPIO_OUT = { type: str(), line: lineRef, initial: level(0), active_low: bool(false) };
const SERIAL = {
  type: str(),
  path: str(''),
  baud: int(50, 9600),
  format: oneOf(SERIAL_FORMATS, 'line'),
  delimiter: str('\n'),
  max_line_bytes: int(1, 4096),
  keys: strList([]),
};

/** Reads one profile's text. `profile` is null when there is no usable [board] table. */
export function parseBoardProfile(source: string, file: string): { profile: BoardProfile | null; errors: Finding[]; warnings: Finding[] } {
  const errors: Finding[] = [];
  const warnings: Finding[] = [];
  const parsed = parseToml(source);
  if (!parsed.ok) return { profile: null, errors: [{ message: tomlErrorText(parsed), file, line: parsed.line }], warnings };
  const lines = new TomlLines(source);
  const error = (message: string, line: number | null) => errors.push({ message, file, line });
  const reporter = (table: string) => (i: TableIssue) =>
    (i.unknown ? warnings : errors).push({ message: `[${table}] ${i.message}`, file, line: lines.keyOrHeader(table, i.key) });

  const { board: rawBoard, signals: rawSignals, ...rest } = parsed.data;
  for (const key of Object.keys(rest)) warnings.push({ message: `unknown key "${key}"`, file, line: lines.key('', key) ?? lines.header(key) });
  if (!isTable(rawBoard)) {
    error(rawBoard === undefined ? 'missing [board] table' : 'board must be a table ([board])', lines.key('', 'board'));
    return { profile: null, errors, warnings };
  }
  const board = readTable(rawBoard, BOARD, reporter('board'));
  if (board.name === undefined) return { profile: null, errors, warnings };
  const nameProblem = topicLevelProblem(board.name);
  if (nameProblem !== null) error(`[board] name ${JSON.stringify(board.name)} cannot be a topic level: ${nameProblem}`, lines.key('board', 'name'));
  const chip = board.chip.trim() === '' ? null : board.chip.trim();

  const signals = new Map<string, SignalConfig>();
  if (rawSignals !== undefined && !isTable(rawSignals)) error('signals must be a table of [signals.<name>] tables', lines.key('', 'signals'));
  const usedLines = new Map<LineRef, string>();
  for (const [name, raw] of Object.entries(isTable(rawSignals) ? rawSignals : {})) {
    const table = `signals.${name}`;
    const at = (key: string) => lines.keyOrHeader(table, key);
    const before = errors.length;
    if (!isTable(raw)) {
      error(`signals.${name} must be a table ([signals.${name}])`, lines.key('signals', name) ?? lines.header(table));
      continue;
    }
    const problem = topicLevelProblem(name);
    if (problem !== null) error(`signal name ${JSON.stringify(name)} cannot be a topic level: ${problem}`, lines.header(table));
    const signal = readSignal(name, raw, { chip, gpio: board.gpio, report: reporter(table), error: (m, key) => error(`[${table}] ${m}`, at(key)), warn: (m, key) => warnings.push({ message: `[${table}] ${m}`, file, line: at(key) }) });
    if (signal !== null && signal.type !== 'serial') {
      const other = usedLines.get(signal.line);
      if (other !== undefined) error(`[${table}] line ${JSON.stringify(signal.line)} is already used by signal "${other}"`, at('line'));
      else usedLines.set(signal.line, name);
    }
    if (signal !== null && errors.length === before) signals.set(name, Object.freeze(signal));
  }

  for (const signal of signals.values()) {
    for (const key of signal.type === 'serial' ? (signal.keys ?? []) : []) {
      if (key !== signal.name && signals.has(key)) {
        warnings.push({ message: `[signals.${signal.name}] key "${key}" and signal "${key}" both make events ${board.name}/${key}`, file, line: lines.keyOrHeader(`signals.${signal.name}`, 'keys') });
      }
    }
  }

  let statusLed: string | null = board.status_led.trim() === '' ? null : board.status_led;
  if (statusLed !== null) {
    const target = isTable(rawSignals) ? rawSignals[statusLed] : undefined;
    if (!isTable(target) || target.type !== 'gpio_out') {
      error(`[board] status_led ${JSON.stringify(statusLed)} must name a gpio_out signal of this board`, lines.key('board', 'status_led'));
      statusLed = null;
    }
  }
  const profile: BoardProfile = Object.freeze({ name: board.name, gpio: board.gpio, chip, status_led: statusLed, signals, file });
  return { profile, errors, warnings };
}

interface SignalContext {
  chip: string | null;
  gpio: GpioBackendName;
  report: (issue: TableIssue) => void;
  error: (message: string, key: string) => void;
  warn: (message: string, key: string) => void;
}

function readSignal(name: string, raw: Record<string, unknown>, ctx: SignalContext): SignalConfig | null {
  const type = raw.type;
  if (type === undefined) {
    ctx.error(`missing required key "type" (${SIGNAL_TYPES.join(', ')})`, 'type');
    return null;
  }
  if (type !== 'gpio_in' && type !== 'gpio_out' && type !== 'serial') {
    ctx.error(`type must be one of ${SIGNAL_TYPES.join(', ')}, got ${describeValue(type)}`, 'type');
    return null;
  }
  if (type === 'serial') return readSerial(name, raw, ctx);

  const checkLine = (line: LineRef | undefined): line is LineRef => {
    if (line === undefined) return false;
    if (typeof line === 'string' && /^\d+$/.test(line.trim())) {
      ctx.error(`line ${JSON.stringify(line)} is a number in quotes: write line = ${line.trim()} for an offset, or the line's name`, 'line');
      return false;
    }
    if (typeof line === 'number' && ctx.chip === null && ctx.gpio !== 'sim') {
      ctx.error(`line ${line} is an offset, which needs chip in [board]; or name the line ("GPIO${line}")`, 'line');
      return false;
    }
    return true;
  };
  if (type === 'gpio_out') {
    const t = readTable(raw, GPIO_OUT, ctx.report);
    if (!checkLine(t.line)) return null;
    return { type, name, line: t.line, initial: t.initial, active_low: t.active_low };
  }
  const t = readTable(raw, GPIO_IN, ctx.report);
  if (t.debounce_ms > 10_000) ctx.error(`debounce_ms must be at most 10000, got ${t.debounce_ms}`, 'debounce_ms');
  if (!checkLine(t.line)) return null;
  const approve = t.approve === false ? null : { sop: t.approve === true ? null : t.approve.trim() };
  return { type, name, line: t.line, edge: t.edge, bias: t.bias, active_low: t.active_low, debounce_ms: t.debounce_ms, approve };
}

function readSerial(name: string, raw: Record<string, unknown>, ctx: SignalContext): SerialSignal | null {
  const t = readTable(raw, SERIAL, ctx.report);
  const path = t.path.trim() === '' ? null : t.path;
  let ok = true;
  if (path === null && ctx.gpio !== 'sim') {
    ctx.error('missing required key "path" (the serial port, e.g. "/dev/serial0")', 'path');
    ok = false;
  }
  if (t.delimiter === '' || t.delimiter.length > 16) {
    ctx.error(`delimiter must be 1 to 16 characters, got ${describeValue(t.delimiter)}`, 'delimiter');
    ok = false;
  }
  if (t.max_line_bytes > MAX_LINE_BYTES) {
    ctx.error(`max_line_bytes must be at most ${MAX_LINE_BYTES}, got ${t.max_line_bytes}`, 'max_line_bytes');
    ok = false;
  }
  const declared = raw.keys !== undefined;
  if (declared && t.format !== 'kv') ctx.warn('keys is read only with format = "kv"', 'keys');
  for (const key of t.keys) {
    const problem = topicLevelProblem(key);
    if (problem !== null) {
      ctx.error(`key ${JSON.stringify(key)} cannot be a topic level: ${problem}`, 'keys');
      ok = false;
    }
  }
  if (!ok) return null;
  const keys = declared && t.format === 'kv' ? Object.freeze([...t.keys]) : null;
  return { type: 'serial', name, path, baud: t.baud, format: t.format, delimiter: t.delimiter, max_line_bytes: t.max_line_bytes, keys };
}

/**
 * Reads the profiles sopgate.toml lists (relative paths against `baseDir`, the config's
 * folder) and checks names across them: a board name may appear once.
 */
export async function loadBoardProfiles(files: readonly string[], baseDir: string): Promise<BoardProfilesResult> {
  const result: BoardProfilesResult = { boards: [], errors: [], warnings: [] };
  const seen = new Map<string, string>();
  for (const listed of files) {
    const file = resolve(baseDir, listed);
    let source: string;
    try {
      source = await readFile(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(err);
      result.errors.push({ message: `cannot read board profile: ${reason}`, file, line: null });
      continue;
    }
    const one = parseBoardProfile(source, file);
    result.errors.push(...one.errors);
    result.warnings.push(...one.warnings);
    if (one.profile === null) continue;
    const first = seen.get(one.profile.name);
    if (first !== undefined) {
      const line = new TomlLines(source).key('board', 'name');
      result.errors.push({ message: `board name "${one.profile.name}" is already used by ${first}`, file, line });
      continue;
    }
    seen.set(one.profile.name, file);
    result.boards.push(one.profile);
  }
  return result;
}
