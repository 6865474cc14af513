// Rendering the placeholders of action arguments (their syntax: sop/placeholders.ts).
// Rendering is one pass over the text: an inserted value is never scanned again, so
// a payload containing `{{run.id}}` stays literal data instead of expanding.
import { PLACEHOLDER, parseRef, type Ref } from '../sop/placeholders.js';
import type { StepContext } from './types.js';

/**
 * How inserted values are escaped: 'text' inserts them as they are, 'json' escapes
 * them for the inside of a JSON string literal, 'url' percent-encodes them as one
 * URL component. The template's own text is never escaped.
 */
export type TemplateMode = 'text' | 'json' | 'url';

// Private marker: the payload is missing or not JSON, so every path resolves to ''.
const NOT_JSON: unique symbol = Symbol('NOT_JSON');

/** Walks a dot path: own keys of objects, canonical indexes of arrays (as conditions do). */
function lookup(root: unknown, path: readonly string[]): unknown {
  let value = root;
  for (const key of path) {
    if (Array.isArray(value)) {
      const index = Number(key);
      if (String(index) !== key || !Number.isInteger(index) || index < 0 || index >= value.length) return undefined;
      value = value[index];
    } else if (value !== null && typeof value === 'object' && Object.hasOwn(value, key)) {
      value = (value as Record<string, unknown>)[key];
    } else {
      return undefined;
    }
  }
  return value;
}

/** A JSON value as template text: strings as they are, everything else as compact JSON. */
function asText(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return value;
  return JSON.stringify(value) ?? '';
}

// encodeURIComponent throws on lone surrogates; a payload must not be able to make
// rendering throw, so they become U+FFFD first.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

function escapeFor(value: string, mode: TemplateMode): string {
  switch (mode) {
    case 'text':
      return value;
    case 'json':
      // JSON.stringify escapes quotes, backslashes and control characters, so the
      // value cannot end the surrounding string literal.
      return JSON.stringify(value).slice(1, -1);
    case 'url':
      return encodeURIComponent(value.replace(LONE_SURROGATE, '\uFFFD'));
  }
}

/** Replaces known placeholders with values from the step's context; unknown ones stay as written. */
export function renderTemplate(text: string, ctx: StepContext, mode: TemplateMode): string {
  let parsed: unknown;
  let parsedYet = false;
  const payloadJson = (): unknown => {
    // Parsed at most once per render, and only when a path placeholder needs it.
    if (!parsedYet) {
      parsedYet = true;
      try {
        parsed = JSON.parse(ctx.event.payload ?? '') as unknown;
      } catch {
        parsed = NOT_JSON;
      }
    }
    return parsed;
  };

  const resolve = (ref: Ref): string => {
    switch (ref.kind) {
      case 'payload': {
        if (ref.path.length === 0) return ctx.event.payload ?? '';
        const root = payloadJson();
        return root === NOT_JSON ? '' : asText(lookup(root, ref.path));
      }
      case 'run.id':
        return ctx.runId;
      case 'sop.name':
        return ctx.sopName;
      case 'trigger.source':
        return ctx.event.source;
      case 'trigger.topic':
        return ctx.event.topic ?? '';
      case 'step':
        return ctx.outputs.get(ref.number) ?? '';
    }
  };

  return text.replace(PLACEHOLDER, (whole, expr: string) => {
    const ref = parseRef(expr);
    return ref === null ? whole : escapeFor(resolve(ref), mode);
  });
}

/** A template that reads as JSON (an object or an array): its values are inserted JSON-escaped. */
export function looksLikeJson(template: string): boolean {
  const trimmed = template.trimStart();
  return trimmed.startsWith('{') || trimmed.startsWith('[');
}
