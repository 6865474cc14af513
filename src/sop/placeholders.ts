// Placeholders, part of the SOP format: `{{payload}}`, `{{payload.a.0}}`, `{{run.id}}`,
// `{{sop.name}}`, `{{steps.N.output}}`, `{{trigger.source}}`, `{{trigger.topic}}` in an
// action's arguments. Their syntax lives here, with the SOP format; executors render them.

/** `{{ expr }}`; braces cannot appear inside, so `{{{x}}}` renders as `{` + x + `}`. */
export const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
/** A dot-path segment: an object key or an array index; no whitespace, dots or braces. */
const SEGMENT = /^[^.\s{}]+$/;
const STEP_OUTPUT = /^steps\.([1-9]\d*)\.output$/;

export type Ref =
  | { kind: 'payload'; path: string[] }
  | { kind: 'run.id' | 'sop.name' | 'trigger.source' | 'trigger.topic' }
  | { kind: 'step'; number: number };

const FIXED = new Set(['run.id', 'sop.name', 'trigger.source', 'trigger.topic']);

/** The reference an expression names, or null when it is not a known placeholder. */
export function parseRef(expr: string): Ref | null {
  if (expr === 'payload') return { kind: 'payload', path: [] };
  if (expr.startsWith('payload.')) {
    const path = expr.slice('payload.'.length).split('.');
    return path.every((s) => SEGMENT.test(s)) ? { kind: 'payload', path } : null;
  }
  if (FIXED.has(expr)) return { kind: expr as 'run.id' | 'sop.name' | 'trigger.source' | 'trigger.topic' };
  const step = STEP_OUTPUT.exec(expr);
  if (step?.[1] !== undefined) return { kind: 'step', number: Number(step[1]) };
  return null;
}

/**
 * The placeholders in `text` that name nothing known (as written inside the braces,
 * each once): `{{ paylod.x }}` → `paylod.x`. Load-time validation turns them into
 * warnings, since at run time they would be left in the text unchanged.
 */
export function unknownPlaceholders(text: string): string[] {
  const unknown = new Set<string>();
  for (const match of text.matchAll(PLACEHOLDER)) {
    const expr = match[1] ?? '';
    if (parseRef(expr) === null) unknown.add(expr);
  }
  return [...unknown];
}
