// The CommonMark reading of SOP.md steps (micromark's syntax tree), that src/sop/markdown.ts
// (a line reader) is checked against on ordinary documents: the same steps, titles, bodies,
// keys, actions and findings. Test-only: micromark's cost grows faster than the file on
// some inputs (many list items closed by blank lines, deep block quotes), so the gateway
// does not run it.
//
// It walks the section's top-level blocks in order and attaches anything that is not a
// numbered list to the most recent step (CommonMark ends the ordered list at an unindented
// bullet, a line reader does not).

import { fromMarkdown } from 'mdast-util-from-markdown';
import type { Code, ListItem, Nodes, Paragraph, RootContent } from 'mdast';
import type { ParsedSteps } from '../../src/sop/markdown.js';
import { parseAction } from '../../src/sop/actions.js';
import { applyStepKey, STEP_KEYS, type StepKey } from '../../src/sop/step-keys.js';
import { TOOL_NAMES, isOneOf, newStep, type Finding, type Step } from '../../src/sop/types.js';

interface Range {
  start: number;
  end: number;
}

/** A step while its blocks are being collected. */
interface Draft {
  step: Step;
  pieces: string[];
  actions: Code[];
}

const start = (node: Nodes): number => node.position?.start.offset ?? 0;
const end = (node: Nodes): number => node.position?.end.offset ?? 0;
const lineOfNode = (node: Nodes): number => node.position?.start.line ?? 1;

/** Plain text of a node: inline code and link text kept, markup dropped. */
function plainText(node: Nodes): string {
  if ('value' in node && typeof node.value === 'string') return node.value;
  if ('children' in node) return (node.children as Nodes[]).map(plainText).join('');
  return '';
}

/** Top-level blocks between the first `## Steps` heading and the next heading of depth 1 or 2. */
function stepsSection(children: RootContent[]): RootContent[] {
  const at = children.findIndex(
    (n) => n.type === 'heading' && n.depth === 2 && plainText(n).trim().toLowerCase() === 'steps',
  );
  if (at === -1) return [];
  const rest = children.slice(at + 1);
  const stop = rest.findIndex((n) => n.type === 'heading' && n.depth <= 2);
  return stop === -1 ? rest : rest.slice(0, stop);
}

/**
 * CommonMark lets a list that starts with a number other than 1 interrupt a
 * paragraph only lazily: "Note.\n2. **Next**" is one paragraph. A line-reading
 * parser sees step 2 there, so a blank line is inserted before such lines in
 * top-level paragraphs of the section. Returns the new text and the (new) line
 * numbers of the inserted blanks, to map findings back to the user's lines.
 */
function splitLazyItems(src: string, section: RootContent[]): { text: string; inserted: number[] } {
  const breaks: number[] = [];
  for (const node of section) {
    if (node.type !== 'paragraph') continue;
    const lines = src.slice(start(node), end(node)).split('\n');
    let offset = start(node);
    lines.forEach((line, i) => {
      if (i > 0 && /^ {0,3}\d{1,9}[.)][ \t]+\S/.test(line)) breaks.push(offset);
      offset += line.length + 1;
    });
  }
  let text = src;
  const inserted: number[] = [];
  breaks.forEach((offset, k) => {
    const shifted = offset + k;
    text = `${text.slice(0, shifted)}\n${text.slice(shifted)}`;
    inserted.push(text.slice(0, shifted).split('\n').length);
  });
  return { text, inserted };
}

/** Grows a cut to whole lines when only whitespace surrounds it, so no blank husk is left. */
function wholeLines(src: string, r: Range): Range {
  const lineStart = src.lastIndexOf('\n', r.start - 1) + 1;
  const s = src.slice(lineStart, r.start).trim() === '' ? lineStart : r.start;
  const nl = src.indexOf('\n', r.end);
  const lineEnd = nl === -1 ? src.length : nl;
  const e = src.slice(r.end, lineEnd).trim() === '' ? Math.min(lineEnd + 1, src.length) : r.end;
  return { start: s, end: e };
}

/**
 * The markdown source of [from, to) minus the cut ranges, with the common
 * indentation removed. When the piece starts mid-line (after a list marker or a
 * title) its first line does not count towards the common indentation.
 */
function sourcePiece(src: string, from: number, to: number, cuts: Range[]): string {
  const lineStart = src.lastIndexOf('\n', from - 1) + 1;
  const midLine = src.slice(lineStart, from).trim() !== '';
  let at = midLine ? from : lineStart;
  let out = '';
  for (const cut of [...cuts].map((c) => wholeLines(src, c)).sort((a, b) => a.start - b.start)) {
    if (cut.end <= at || cut.start >= to) continue;
    out += src.slice(at, Math.max(at, cut.start));
    at = Math.max(at, cut.end);
  }
  out += src.slice(at, Math.max(at, to));
  const lines = out.split('\n');
  const lead = (l: string): number => /^[ \t]*/.exec(l)?.[0].length ?? 0;
  const counted = (midLine ? lines.slice(1) : lines).filter((l) => l.trim() !== '');
  const indent = Math.min(...counted.map(lead));
  if (!Number.isFinite(indent) || indent === 0) return out;
  return lines.map((l, i) => (i === 0 && midLine ? l : l.slice(Math.min(indent, lead(l))))).join('\n');
}

/** `key: value` of a sub-bullet, or null when its key is not one of STEP_KEYS. */
function stepKey(item: ListItem): { key: StepKey; value: string; para: Paragraph } | null {
  const para = item.children[0];
  if (para?.type !== 'paragraph') return null;
  const match = /^([^:]+):([\s\S]*)$/.exec(plainText(para).trim());
  const key = match?.[1]?.trim().toLowerCase();
  if (match === null || !isOneOf(STEP_KEYS, key)) return null;
  return { key, value: (match[2] ?? '').trim(), para };
}

export function referenceParseSteps(text: string, file: string): ParsedSteps {
  const errors: Finding[] = [];
  const warnings: Finding[] = [];
  // One line ending everywhere: offsets, slices and line numbers then agree on CRLF files too.
  let src = text.replace(/\r\n?/g, '\n');
  let section = stepsSection(fromMarkdown(src).children);
  const split = splitLazyItems(src, section);
  if (split.inserted.length > 0) {
    src = split.text;
    section = stepsSection(fromMarkdown(src).children);
  }
  const userLine = (line: number): number => line - split.inserted.filter((l) => l < line).length;
  const lineOf = (node: Nodes): number => userLine(lineOfNode(node));

  /** Takes sub-bullets and action blocks out of a block; the rest of its source becomes body. */
  function absorb(draft: Draft, node: Nodes): void {
    const cuts: Range[] = [];
    const visit = (n: Nodes): void => {
      if (n.type === 'code' && isOneOf(TOOL_NAMES, n.lang)) {
        draft.actions.push(n);
        cuts.push({ start: start(n), end: end(n) });
        return;
      }
      if (n.type === 'list' && !n.ordered) {
        for (const item of n.children) {
          const kv = stepKey(item);
          if (kv === null) continue;
          applyStepKey(draft.step, kv.key, kv.value, { file, line: lineOf(item) }, errors);
          // Cut the marker and the key line only; anything nested under it stays body.
          cuts.push({ start: start(item), end: end(kv.para) });
        }
      }
      if ('children' in n) for (const child of n.children as Nodes[]) visit(child);
    };
    visit(node);
    addPiece(draft, sourcePiece(src, start(node), end(node), cuts));
  }

  function addPiece(draft: Draft, piece: string): void {
    if (piece.trim() !== '') draft.pieces.push(piece.trim());
  }

  /** Indentation inside a paragraph means nothing (lazy lines have none), so drop it per line. */
  function paragraphLines(from: number, to: number): string {
    return src.slice(from, to).split('\n').map((l) => l.trimStart()).join('\n');
  }

  function openStep(item: ListItem, number: number): Draft {
    const draft: Draft = {
      step: newStep(number),
      pieces: [],
      actions: [],
    };
    const line = lineOf(item);
    const written = /^(\d{1,9})[.)]/.exec(src.slice(start(item)))?.[1];
    if (written !== undefined && Number(written) !== number) {
      warnings.push({ message: `step numbering gap: expected ${number}, found ${written}`, file, line });
    }

    const [first, ...rest] = item.children;
    if (first?.type === 'paragraph') {
      const lead = first.children[0];
      if (lead?.type === 'strong') {
        draft.step.title = plainText(lead).trim();
        addPiece(draft, paragraphLines(end(lead), end(first)).trim().replace(/^[\u2014\u2013-]\s*/, ''));
      } else {
        // No bold title: the first line of the paragraph is the title (as written,
        // markup kept) and its other lines start the body, as a line reader would.
        const nl = src.indexOf('\n', start(first));
        const lineEnd = nl === -1 || nl > end(first) ? end(first) : nl;
        draft.step.title = src.slice(start(first), lineEnd).trim();
        if (lineEnd < end(first)) addPiece(draft, paragraphLines(lineEnd + 1, end(first)));
      }
    }
    if (draft.step.title === '') warnings.push({ message: `step ${number} has an empty title`, file, line });
    for (const child of first?.type === 'paragraph' ? rest : item.children) absorb(draft, child);
    return draft;
  }

  const drafts: Draft[] = [];
  for (const node of section) {
    if (node.type === 'list' && node.ordered) {
      for (const item of node.children) drafts.push(openStep(item, drafts.length + 1));
    } else {
      const current = drafts.at(-1);
      // Content before the first step (an introduction) belongs to no step.
      if (current !== undefined) absorb(current, node);
    }
  }

  const actionLines = new Map<number, number>();
  const steps = drafts.map(({ step, pieces, actions }) => {
    step.body = pieces.join('\n').trim();
    const [first, ...extra] = actions;
    if (first !== undefined && isOneOf(TOOL_NAMES, first.lang)) {
      actionLines.set(step.number, lineOf(first));
      const parsed = parseAction(first.lang, first.value, file, lineOf(first));
      step.action = parsed.action;
      errors.push(...parsed.errors);
    }
    for (const block of extra) {
      errors.push({ message: `step ${step.number} has more than one action block`, file, line: lineOf(block) });
    }
    return step;
  });
  return { steps, errors, warnings, actionLines };
}

/**
 * Tools and errors as sets, for comparing the two readings: the line reader applies keys in
 * line order, the CommonMark reading a list's own keys before those nested in it.
 */
export function comparable(r: ParsedSteps): ParsedSteps {
  for (const step of r.steps) step.suggested_tools.sort();
  r.errors.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || a.message.localeCompare(b.message));
  return r;
}
