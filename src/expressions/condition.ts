// Trigger conditions (docs/conditions.md), compiled once when
// SOPs load. The returned test does no parsing: the path is split into segments, the
// operator and comparand are fixed in a closure, and the payload's JSON and number
// come memoised from Payload. condition-reference.ts is the plain oracle it is tested
// against; the two must agree on every input.
import { NOT_JSON, type Payload, decimalValue } from './payload.js';

export type CompiledCondition =
  | { ok: true; test: (payload: Payload) => boolean }
  | { ok: false; error: string };

type Operator = '>=' | '<=' | '!=' | '==' | '>' | '<';

/** Longest first, so `>=` is never read as `>` followed by a comparand "=...". */
const TWO_CHAR_OPERATORS: readonly Operator[] = ['>=', '<=', '!=', '=='];
const OPERATOR_CHARS = '<>=!';

/** A path step: the object key, and the array index it denotes (-1 if none). */
interface Segment {
  key: string;
  index: number;
}

type Comparand = { kind: 'number'; value: number } | { kind: 'string'; value: string };

interface Parsed {
  /** null for the direct form (`> 0`), which compares the whole payload text. */
  path: Segment[] | null;
  op: Operator;
  comparand: Comparand;
}

const MISSING: unique symbol = Symbol('MISSING');
const CANONICAL_INDEX = /^(0|[1-9]\d*)$/;
/** Characters that end a dot segment; whitespace makes `$.a b` an error, not key "a b". */
const SEGMENT_END = /[.[\]\s]/;
const BRACKET_INDEX = /^\[(0|[1-9]\d*)\]/;

const always = (): boolean => true;

export function compileCondition(source: string): CompiledCondition {
  const condition = source.trim();
  // An empty condition always matches, even without a payload.
  if (condition === '') return { ok: true, test: always };
  const parsed = parseCondition(condition);
  if (typeof parsed === 'string') {
    return { ok: false, error: `condition ${JSON.stringify(condition)}: ${parsed}` };
  }
  const test = buildTest(parsed);
  return {
    ok: true,
    test: (payload) => {
      // Fail closed: a matcher bug must never take an event source down.
      try {
        return test(payload);
      } catch {
        return false;
      }
    },
  };
}

/** The parsed condition, or the reason it cannot compile. */
function parseCondition(condition: string): Parsed | string {
  // The operator is the first operator character from the left, so one inside a quoted
  // comparand (`$.msg == "a>=b"`) stays part of the comparand.
  let at = 0;
  while (at < condition.length && !OPERATOR_CHARS.includes(condition.charAt(at))) at++;
  if (at === condition.length) return 'no comparison operator; expected one of >=, <=, !=, ==, >, <';

  const pair = condition.slice(at, at + 2);
  const single = condition.charAt(at);
  let op: Operator;
  const two = TWO_CHAR_OPERATORS.find((candidate) => candidate === pair);
  if (two !== undefined) op = two;
  else if (single === '>' || single === '<') op = single;
  else return `"${single}" is not an operator; did you mean "${single}="?`;

  const comparand = parseComparand(op, condition.slice(at + op.length).trim());
  if (typeof comparand === 'string') return comparand;

  const left = condition.slice(0, at).trim();
  if (left === '') return { path: null, op, comparand };
  const path = parsePath(left);
  if (typeof path === 'string') return path;
  return { path, op, comparand };
}

function parseComparand(op: Operator, text: string): Comparand | string {
  if (text === '') return `missing comparand after "${op}"`;
  // A quoted comparand is always text, even "85": quoting is how a user asks for a
  // string comparison. No escapes: only the outer pair of quotes is removed.
  if (text.length >= 2 && text.startsWith('"') && text.endsWith('"')) {
    return { kind: 'string', value: text.slice(1, -1) };
  }
  // `===`, `<>`, `>>` are typos that would otherwise silently never match.
  if (OPERATOR_CHARS.includes(text.charAt(0))) {
    return `comparand ${JSON.stringify(text)} starts with "${text.charAt(0)}" (quote it if that is meant as text)`;
  }
  const value = decimalValue(text);
  return value === undefined ? { kind: 'string', value: text } : { kind: 'number', value };
}

/** `$`, then any of `.key` and `[index]`. */
function parsePath(left: string): Segment[] | string {
  const quoted = JSON.stringify(left);
  if (!left.startsWith('$')) return `path ${quoted} must start with "$" (for example $.temperature)`;
  const segments: Segment[] = [];
  let i = 1;
  while (i < left.length) {
    const ch = left.charAt(i);
    if (ch === '.') {
      let end = i + 1;
      while (end < left.length && !SEGMENT_END.test(left.charAt(end))) end++;
      if (end === i + 1) return `empty path segment in ${quoted}`;
      segments.push(segment(left.slice(i + 1, end)));
      i = end;
    } else if (ch === '[') {
      const match = BRACKET_INDEX.exec(left.slice(i));
      if (match === null || match[1] === undefined) {
        return `bad index in ${quoted}: brackets take a non-negative integer such as [0]`;
      }
      segments.push(segment(match[1]));
      i += match[0].length;
    } else {
      return `${quoted} is not a path: unexpected ${JSON.stringify(ch)} where "." or "[" should be`;
    }
  }
  return segments;
}

function segment(key: string): Segment {
  return { key, index: CANONICAL_INDEX.test(key) ? Number(key) : -1 };
}

function buildTest({ path, op, comparand }: Parsed): (payload: Payload) => boolean {
  // A number and text that is not a number cannot be compared: no match for any
  // operator, `!=` included (fail closed).
  if (comparand.kind === 'number') {
    const holds = comparator<number>(op, comparand.value);
    if (path === null) {
      return (payload) => {
        if (payload.trimmed() === '') return false;
        const actual = payload.number();
        return actual !== undefined && holds(actual);
      };
    }
    return (payload) => {
      const actual = resolve(payload, path);
      if (typeof actual === 'number') return Number.isFinite(actual) && holds(actual);
      if (typeof actual === 'string') {
        // Numeric strings ("85" from a sensor that quotes everything) count as numbers.
        const value = decimalValue(actual.trim());
        return value !== undefined && holds(value);
      }
      return false; // true, false, null, missing, object, array
    };
  }

  const holds = comparator<string>(op, comparand.value);
  if (path === null) {
    return (payload) => {
      const actual = payload.trimmed();
      return actual !== '' && holds(actual);
    };
  }
  return (payload) => {
    const actual = resolve(payload, path);
    // Strings (numeric ones too, as written) compare as text; true/false/null by name.
    if (typeof actual === 'string') return holds(actual);
    if (typeof actual === 'boolean') return holds(actual ? 'true' : 'false');
    if (actual === null) return holds('null');
    return false; // a JSON number is not text; objects and arrays compare with nothing
  };
}

/** `actual OP expected`; exact equality for numbers (no epsilon), code-unit order for text. */
function comparator<T extends number | string>(op: Operator, expected: T): (actual: T) => boolean {
  switch (op) {
    case '==':
      return (actual) => actual === expected;
    case '!=':
      return (actual) => actual !== expected;
    case '>':
      return (actual) => actual > expected;
    case '<':
      return (actual) => actual < expected;
    case '>=':
      return (actual) => actual >= expected;
    case '<=':
      return (actual) => actual <= expected;
  }
}

/** The value at `path` in the payload's JSON, or MISSING. Own properties only. */
function resolve(payload: Payload, path: readonly Segment[]): unknown {
  let value = payload.json();
  if (value === NOT_JSON) return MISSING;
  for (const { key, index } of path) {
    if (Array.isArray(value)) {
      if (index < 0 || index >= value.length) return MISSING;
      value = value[index] as unknown;
    } else if (typeof value === 'object' && value !== null) {
      // Object.hasOwn keeps `constructor`, `toString` and `__proto__` from resolving
      // through the prototype; a payload's own "__proto__" key is still plain data.
      if (!Object.hasOwn(value, key)) return MISSING;
      value = (value as Record<string, unknown>)[key];
    } else {
      return MISSING;
    }
  }
  return value;
}
