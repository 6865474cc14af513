// One event's payload as conditions see it. The matcher makes one Payload per event
// so the text is trimmed, classified and JSON-parsed at most once, however many
// conditions look at it: matching an event parses its payload at most once.

/** What `Payload.json()` answers when the payload is missing, empty or not JSON. */
export const NOT_JSON: unique symbol = Symbol('NOT_JSON');

/** Finite decimal literals only: no hex, no `Infinity`, no `NaN`, no inner spaces. */
const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/**
 * The number a text denotes if it is a decimal literal whose value is finite;
 * `undefined` otherwise (`1e999` overflows to Infinity, so it is not a number here).
 * The caller trims: a numeric comparand or payload may carry surrounding spaces.
 */
export function decimalValue(text: string): number | undefined {
  if (!DECIMAL.test(text)) return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

// Private "not computed yet" marker, distinct from every JSON value and from NOT_JSON.
const PENDING: unique symbol = Symbol('PENDING');

export class Payload {
  #trimmed: string | undefined;
  #number: number | undefined | typeof PENDING = PENDING;
  #json: unknown = PENDING;

  constructor(readonly text: string | undefined) {}

  /** The payload text without surrounding whitespace; '' when missing. */
  trimmed(): string {
    if (this.#trimmed === undefined) this.#trimmed = this.text === undefined ? '' : this.text.trim();
    return this.#trimmed;
  }

  /** The trimmed text as a finite number, or undefined when it is not a decimal literal. */
  number(): number | undefined {
    if (this.#number === PENDING) this.#number = decimalValue(this.trimmed());
    return this.#number;
  }

  /** The parsed JSON value, parsed on first use; NOT_JSON when missing, empty or invalid. */
  json(): unknown {
    if (this.#json === PENDING) this.#json = parseJson(this.trimmed());
    return this.#json;
  }
}

function parseJson(text: string): unknown {
  if (text === '') return NOT_JSON;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    // Invalid JSON, or nesting deep enough to exhaust the stack: both fail closed.
    return NOT_JSON;
  }
}
