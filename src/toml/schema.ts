// A small declarative reader for TOML tables: each key has a check, a default (or is
// required) and a message; the TypeScript type of the result comes from the same specs,
// so the checks and the type cannot drift apart.

export interface Spec<T> {
  /** What the value must be, for messages: "a non-negative integer". */
  readonly expected: string;
  /** The default, or `undefined` when the key is required. */
  readonly fallback: T | undefined;
  accepts(value: unknown): value is T;
}

export type SpecValue<S> = S extends Spec<infer T> ? T : never;
export type TableOf<S extends Record<string, Spec<unknown>>> = { -readonly [K in keyof S]: SpecValue<S[K]> };

export interface TableIssue {
  key: string;
  message: string;
  /** True for keys the spec does not know (a warning, not an error). */
  unknown?: boolean;
}

export function str(fallback?: string): Spec<string> {
  return { expected: 'a string', fallback, accepts: (v): v is string => typeof v === 'string' };
}

export function bool(fallback?: boolean): Spec<boolean> {
  return { expected: 'true or false', fallback, accepts: (v): v is boolean => typeof v === 'boolean' };
}

export function int(min: number, fallback?: number): Spec<number> {
  const expected = min === 0 ? 'a non-negative integer' : `an integer ≥ ${min}`;
  return {
    expected,
    fallback,
    accepts: (v): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= min,
  };
}

export function oneOf<T extends string>(list: readonly T[], fallback?: T): Spec<T> {
  return {
    expected: `one of ${list.join(', ')}`,
    fallback,
    accepts: (v): v is T => typeof v === 'string' && (list as readonly string[]).includes(v),
  };
}

export function strList(fallback?: string[]): Spec<string[]> {
  return {
    expected: 'an array of strings',
    fallback,
    accepts: (v): v is string[] => Array.isArray(v) && v.every((item) => typeof item === 'string'),
  };
}

/**
 * An array of tables whose every entry passes `entry` (which names what is wrong, or
 * returns null), e.g. [[mqtt.users]].
 */
export function tableList<T>(expected: string, entry: (table: Record<string, unknown>) => string | null, fallback?: T[]): Spec<T[]> {
  return {
    expected,
    fallback,
    accepts: (v): v is T[] => Array.isArray(v) && v.every((item) => isTable(item) && entry(item) === null),
  };
}

/** Shows a TOML value the way the user wrote it, for messages (long strings shortened). */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}...` : value);
  if (Array.isArray(value)) return 'an array';
  if (value !== null && typeof value === 'object') return value instanceof Date ? 'a date' : 'a table';
  return String(value);
}

export function isTable(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date);
}

/**
 * Reads `table` against `specs`: every problem is reported (never thrown), and an
 * invalid or missing value falls back to its default so the rest can still be checked.
 * A missing required key yields `undefined` in its place.
 */
export function readTable<S extends Record<string, Spec<unknown>>>(
  table: Record<string, unknown>,
  specs: S,
  report: (issue: TableIssue) => void,
): TableOf<S> {
  const out: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(specs)) {
    const value = table[key];
    if (value === undefined) {
      if (spec.fallback === undefined) report({ key, message: `missing required key "${key}"` });
      out[key] = structuredClone(spec.fallback);
    } else if (spec.accepts(value)) {
      out[key] = value;
    } else {
      report({ key, message: `${key} must be ${spec.expected}, got ${describeValue(value)}` });
      out[key] = structuredClone(spec.fallback);
    }
  }
  for (const key of Object.keys(table)) {
    if (!(key in specs)) report({ key, message: `unknown key "${key}"`, unknown: true });
  }
  return out as TableOf<S>;
}
