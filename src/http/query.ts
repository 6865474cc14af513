// Whole numbers in query strings, read the same way on every endpoint: decimal digits
// only (no sign, exponent, hex or blanks, which Number() would take), given at most once,
// within bounds; anything else is a 400 that names the parameter and its range.
import { badRequest, type Reply } from './reply.js';

export type QueryInt = { ok: true; value: number } | { ok: false; reply: Reply };

export function queryInt(query: URLSearchParams, name: string, bounds: { min: number; max: number; fallback: number }): QueryInt {
  const values = query.getAll(name);
  if (values.length === 0) return { ok: true, value: bounds.fallback };
  const text = values[0]!;
  const value = Number(text);
  if (values.length === 1 && /^\d+$/.test(text) && value >= bounds.min && value <= bounds.max) return { ok: true, value };
  const what = values.length > 1 ? `${name} is given ${values.length} times` : `${name} is ${JSON.stringify(text.slice(0, 40))}`;
  return { ok: false, reply: badRequest(`${what}: it must be one whole number from ${bounds.min} to ${bounds.max}, in decimal digits`) };
}
