// What one line of a SOP.md is, read on its own: the block it starts (a heading, a
// fence, a list item, ...) or plain text. Every pattern here is anchored and has no
// nested repetition, so a line costs time in proportion to its length.

export type LineKind =
  | { kind: 'blank' }
  | { kind: 'text' }
  | { kind: 'heading'; depth: number }
  | { kind: 'fence'; char: string; length: number; info: string }
  /** `===` or `---` alone right after a top-level paragraph: that paragraph is a heading. */
  | { kind: 'underline'; depth: 1 | 2 }
  | { kind: 'break' }
  | { kind: 'quote' }
  /**
   * `- `, `* `, `+ ` (bullet) or `1. `, `1) ` (ordered): `marker` is the bullet or the
   * delimiter, `content` the column its text starts at, `rest` that text.
   */
  | { kind: 'item'; ordered: boolean; number: string; marker: string; indent: number; content: number; rest: string };

export interface Line {
  text: string;
  /** 1-based line number in the file. */
  no: number;
  /** Leading spaces and tabs, one column each. */
  indent: number;
}

const FENCE = /^(`{3,}|~{3,})(.*)$/;
const HEADING = /^(#{1,6})(?:[ \t]|$)/;
const UNDERLINE = /^(=+|-+)[ \t]*$/;
const BREAK = /^([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const BULLET = /^([-*+])([ \t]+|$)/;
const ORDERED = /^(\d{1,9})([.)])([ \t]+|$)/;

export function splitLines(text: string): Line[] {
  // One line ending everywhere: line numbers agree on CRLF files too.
  return text
    .replace(/\r\n?/g, '\n')
    .split('\n')
    .map((t, i) => ({ text: t, no: i + 1, indent: leadingWhitespace(t) }));
}

export function leadingWhitespace(text: string): number {
  let i = 0;
  while (text[i] === ' ' || text[i] === '\t') i++;
  return i;
}

/**
 * What `text` starts, with its first `indent` characters taken as indentation.
 * `underlines` says whether a `===` or `---` line would make a setext heading here.
 */
export function kindOf(text: string, indent: number, underlines = false): LineKind {
  const rest = text.slice(indent);
  if (rest.trim() === '') return { kind: 'blank' };
  const fence = FENCE.exec(rest);
  // A backtick fence's info string cannot hold a backtick (it would be inline code).
  if (fence !== null && !(fence[1]![0] === '`' && fence[2]!.includes('`'))) {
    return { kind: 'fence', char: fence[1]![0]!, length: fence[1]!.length, info: fence[2]!.trim() };
  }
  const heading = HEADING.exec(rest);
  if (heading !== null) return { kind: 'heading', depth: heading[1]!.length };
  const underline = UNDERLINE.exec(rest);
  if (underline !== null && underlines) return { kind: 'underline', depth: underline[1]![0] === '=' ? 1 : 2 };
  if (BREAK.test(rest)) return { kind: 'break' };
  if (rest[0] === '>') return { kind: 'quote' };
  const bullet = BULLET.exec(rest);
  if (bullet !== null) return item(false, '', bullet[1]!, indent, bullet[2]!, rest);
  const ordered = ORDERED.exec(rest);
  if (ordered !== null) return item(true, ordered[1]!, ordered[2]!, indent, ordered[3]!, rest);
  return { kind: 'text' };
}

/** A list item's content column: after the marker and its spaces (1-4; more make indented code). */
function item(ordered: boolean, number: string, marker: string, indent: number, spaces: string, rest: string): LineKind {
  const width = number.length + 1;
  const gap = spaces.length === 0 || spaces.length > 4 ? 1 : spaces.length;
  return { kind: 'item', ordered, number, marker, indent, content: indent + width + gap, rest: rest.slice(width + gap) };
}

/** True when `line` closes a fence opened with `length` × `char`. */
export function closesFence(line: Line, fence: { char: string; length: number }, base: number): boolean {
  if (line.indent - base > 3) return false;
  const rest = line.text.slice(line.indent).trimEnd();
  return rest.length >= fence.length && rest.length > 0 && [...rest].every((c) => c === fence.char);
}

/** Removes up to `n` leading spaces or tabs. */
export function dedent(text: string, n: number): string {
  return text.slice(Math.min(n, leadingWhitespace(text)));
}

/** Lines with their common indentation removed (blank lines do not count). */
export function dedentBlock(lines: string[]): string[] {
  let common = Infinity;
  for (const l of lines) if (l.trim() !== '') common = Math.min(common, leadingWhitespace(l));
  return Number.isFinite(common) && common > 0 ? lines.map((l) => dedent(l, common)) : lines;
}
