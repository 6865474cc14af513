// SOP.md step parser (docs/sop-format.md): finds the `## Steps` section, has
// steps-reader.ts read it line by line, and makes steps of what it read: titles, bodies,
// the `- key: value` sub-bullets and the action blocks.

import { parseAction } from './actions.js';
import { closesFence, dedentBlock, kindOf, splitLines, type Line } from './md-lines.js';
import { plainInline, strongLead } from './md-inline.js';
import { StepsReader, type BodyLine, type RawStep } from './steps-reader.js';
import { TOOL_NAMES, isOneOf, newStep, type Finding, type Step } from './types.js';
import { applyStepKey, STEP_KEYS, type StepKey } from './step-keys.js';

/** `key: value` of a sub-bullet's paragraph, or null when its key is not one of STEP_KEYS. */
function stepKey(paragraph: string): { key: StepKey; value: string } | null {
  if (!paragraph.includes(':')) return null;
  const match = /^([^:]+):([\s\S]*)$/.exec(plainInline(paragraph).trim());
  const key = match?.[1]?.trim().toLowerCase();
  if (match === null || !isOneOf(STEP_KEYS, key)) return null;
  return { key, value: (match[2] ?? '').trim() };
}

export interface ParsedSteps {
  steps: Step[];
  errors: Finding[];
  warnings: Finding[];
  /** Step number → line of its action block's fence, for later findings about the action. */
  actionLines: Map<number, number>;
}

export function parseSteps(text: string, file: string): ParsedSteps {
  const errors: Finding[] = [];
  const warnings: Finding[] = [];
  const lines = splitLines(text);
  const from = stepsSection(lines);
  const made = new Map<RawStep, Step>();
  const stepOf = (raw: RawStep): Step => {
    let step = made.get(raw);
    if (step === undefined) made.set(raw, (step = newStep(raw.number)));
    return step;
  };



  const reader = new StepsReader(
    (lang) => isOneOf(TOOL_NAMES, lang),
    (raw, paragraph, line) => {
      const kv = stepKey(paragraph);
      if (kv !== null) applyStepKey(stepOf(raw), kv.key, kv.value, { file, line }, errors);
      return kv !== null;
    },
  );
  if (from !== -1) {
    for (let i = from; i < lines.length && reader.line(lines[i]!); i++);
  }
  reader.end();

  const actionLines = new Map<number, number>();
  const steps = reader.steps.map(stepOf);
  for (const raw of reader.steps) {
    const step = stepOf(raw);
    // Steps are numbered 1..n by position; the written numbers only draw warnings.
    if (Number(raw.written) !== step.number) {
      warnings.push({ message: `step numbering gap: expected ${step.number}, found ${raw.written}`, file, line: raw.line });
    }
    const pieces = title(step, raw.titleLines);
    if (step.title === '') warnings.push({ message: `step ${step.number} has an empty title`, file, line: raw.line });
    step.body = [...pieces, ...groupPieces(raw.body)].join('\n').trim();
    const [first, ...extra] = raw.actions;
    if (first !== undefined && isOneOf(TOOL_NAMES, first.lang)) {
      actionLines.set(step.number, first.line);
      const parsed = parseAction(first.lang, first.content.join('\n'), file, first.line);
      step.action = parsed.action;
      errors.push(...parsed.errors);
    }
    for (const block of extra) {
      errors.push({ message: `step ${step.number} has more than one action block`, file, line: block.line });
    }
  }
  return { steps, errors, warnings, actionLines };
}

const STEPS_TITLE = 'steps';

/**
 * The index of the line after the first `## Steps` heading (ATX or setext, heading text
 * case-insensitive), or -1. Fenced code is skipped: a heading there is no heading.
 */
function stepsSection(lines: Line[]): number {
  let fence: { char: string; length: number } | null = null;
  let boundary = true; // the line before may end a paragraph: a setext heading can start here
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (fence !== null) {
      if (closesFence(l, fence, 0)) fence = null;
      boundary = true;
      continue;
    }
    const kind = l.indent > 3 ? { kind: 'text' as const } : kindOf(l.text, l.indent);
    if (kind.kind === 'fence') fence = kind;
    if (kind.kind === 'heading' && kind.depth === 2 && headingText(l.text) === STEPS_TITLE) return i + 1;
    const next = lines[i + 1];
    if (kind.kind === 'text' && boundary && next !== undefined && /^ {0,3}-+[ \t]*$/.test(next.text)) {
      if (plainInline(l.text.trim()).toLowerCase() === STEPS_TITLE) return i + 2;
    }
    boundary = kind.kind === 'blank' || kind.kind === 'heading' || kind.kind === 'break' || kind.kind === 'fence';
  }
  return -1;
}

/** An ATX heading's text: no `#` marks, no closing sequence, no inline markup. */
function headingText(line: string): string {
  const inner = line.trim().replace(/^#+/, '').replace(/[ \t]#+[ \t]*$/, '').replace(/^#+$/, '');
  return plainInline(inner.trim()).trim().toLowerCase();
}

/**
 * Sets the step's title from its first paragraph and returns the body piece the paragraph
 * leaves: after a leading bold title, minus one leading em dash, en dash or hyphen; without
 * one, the first line (as written, markup kept) is the title and the other lines start the body.
 */
function title(step: Step, lines: string[] | null): string[] {
  if (lines === null) return [];
  const text = lines.join('\n');
  const lead = strongLead(text);
  if (lead !== null) {
    step.title = lead.title;
    return [lead.rest.trim().replace(/^[\u2014\u2013-]\s*/, '').trim()].filter((p) => p !== '');
  }
  step.title = lines[0]!.trim();
  const rest = lines.slice(1).join('\n').trim();
  return rest === '' ? [] : [rest];
}

/** Body lines by block group, each group without its common indentation. */
function groupPieces(body: BodyLine[]): string[] {
  const pieces: string[] = [];
  let group: string[] = [];
  let id = body[0]?.group;
  const flush = (): void => {
    const piece = dedentBlock(group).join('\n').trim();
    if (piece !== '') pieces.push(piece);
    group = [];
  };
  for (const line of body) {
    if (line.group !== id) flush();
    id = line.group;
    group.push(line.text);
  }
  flush();
  return pieces;
}
