// The plain reference evaluator for trigger conditions (docs/conditions.md). It shares
// no code with condition.ts on purpose: it is the oracle the compiled matcher is tested
// against (one case table, two implementations) and the naive baseline in the match
// benchmark. It re-reads the condition and re-parses the payload on every call; keep it
// obvious, not fast.

const NUMBER_LITERAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const WHOLE_PATH = /^\$(\.[^.[\]\s]+|\[(0|[1-9]\d*)\])*$/;
const PATH_STEP = /\.([^.[\]\s]+)|\[(\d+)\]/g;
const OPERATORS = ['>=', '<=', '!=', '==', '>', '<'];

/** True when the condition holds for the payload; false for any invalid condition. */
export function evaluateConditionReference(condition: string, payload: string | undefined): boolean {
  const cond = condition.trim();
  if (cond === '') return true;
  if (payload === undefined || payload.trim() === '') return false;

  // Split at the first operator character; two-character operators win.
  let at = -1;
  for (let i = 0; i < cond.length; i++) {
    if ('<>=!'.includes(cond.charAt(i))) {
      at = i;
      break;
    }
  }
  if (at === -1) return false;
  const op = OPERATORS.find((candidate) => cond.startsWith(candidate, at));
  if (op === undefined) return false;
  const left = cond.slice(0, at).trim();
  const right = cond.slice(at + op.length).trim();
  if (right === '') return false;

  // The comparand: quoted text, a finite number, or bare text.
  let expectedText = right;
  let expectedNumber: number | undefined;
  if (right.length >= 2 && right.startsWith('"') && right.endsWith('"')) {
    expectedText = right.slice(1, -1);
  } else if ('<>=!'.includes(right.charAt(0))) {
    return false;
  } else if (isFiniteNumber(right)) {
    expectedNumber = Number(right);
  }

  // The actual value, as text and/or as a number.
  let actualText: string | undefined;
  let actualNumber: number | undefined;
  if (left === '') {
    actualText = payload.trim();
    if (isFiniteNumber(actualText)) actualNumber = Number(actualText);
  } else {
    if (!WHOLE_PATH.test(left)) return false;
    let value: unknown;
    try {
      value = JSON.parse(payload.trim());
    } catch {
      return false;
    }
    for (const step of left.matchAll(PATH_STEP)) {
      const key = step[1] ?? step[2] ?? '';
      if (Array.isArray(value)) {
        const index = Number(key);
        const canonical = String(index) === key && Number.isInteger(index) && index >= 0;
        if (!canonical || index >= value.length) return false;
        value = value[index];
      } else if (value !== null && typeof value === 'object' && Object.hasOwn(value, key)) {
        value = (value as Record<string, unknown>)[key];
      } else {
        return false;
      }
    }
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) return false;
      actualNumber = value;
    } else if (typeof value === 'string') {
      actualText = value;
      if (isFiniteNumber(value.trim())) actualNumber = Number(value.trim());
    } else if (typeof value === 'boolean' || value === null) {
      actualText = String(value);
    } else {
      return false; // objects and arrays compare with nothing
    }
  }

  // Number against text cannot be compared: no match, whatever the operator.
  if (expectedNumber !== undefined) {
    if (actualNumber === undefined) return false;
    return compare(actualNumber, op, expectedNumber);
  }
  if (actualText === undefined) return false;
  return compare(actualText, op, expectedText);
}

function isFiniteNumber(text: string): boolean {
  return NUMBER_LITERAL.test(text) && Number.isFinite(Number(text));
}

function compare<T extends number | string>(a: T, op: string, b: T): boolean {
  if (op === '==') return a === b;
  if (op === '!=') return a !== b;
  if (op === '>') return a > b;
  if (op === '<') return a < b;
  if (op === '>=') return a >= b;
  return a <= b;
}
