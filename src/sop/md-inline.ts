// The inline markdown of step titles and sub-bullet keys, read as plain text: code spans
// keep their text, links their text, images nothing, emphasis loses its markers,
// backslash escapes lose the backslash. Everything else (raw HTML, character references
// such as `&amp;`) stays as written. One pass per construct and no backtracking: the
// whole of a 1 MiB line costs what a short one costs per character, whatever it holds.

/** What a title paragraph starts with: its leading bold text, and what follows it. */
export interface StrongLead {
  /** The bold text as plain text, trimmed. */
  title: string;
  /** The source after the closing `**` or `__`. */
  rest: string;
}

interface Marks {
  /** Characters left out of the plain text. */
  drop: Uint8Array;
  /** Code spans: start → [end, text shown instead of [start, end)]. */
  spans: Map<number, [number, string]>;
  /** Emphasis matches, in the order found: opener and closer character ranges. */
  matches: { open: number; inner: number; close: number; end: number; use: number }[];
}

const ASCII_PUNCTUATION = /[!-/:-@[-`{-~]/;
const PUNCTUATION = /[\p{P}\p{S}]/u;
const AUTOLINK = /<[A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>]*>/y;

/** Characters that may start inline markup; text without any is its own plain text. */
const MARKUP = /[\\`[<*_]/;

/** `text` without its inline markup. */
export function plainInline(text: string): string {
  return MARKUP.test(text) ? emit(text, marksOf(text), 0, text.length) : text;
}

/**
 * The leading bold text when the paragraph starts with it (`**Title** — body`), as a
 * CommonMark reader sees it: the `**` or `__` at the start must open a strong span
 * that is not itself inside an emphasis (`***A***` is emphasis first).
 */
export function strongLead(text: string): StrongLead | null {
  if (!text.startsWith('**') && !text.startsWith('__')) return null;
  const marks = marksOf(text);
  // Openers give up their characters from the inside out: the match that takes the first
  // character is the outermost one.
  const outer = marks.matches.find((m) => m.open === 0);
  if (outer === undefined || outer.use !== 2) return null;
  return { title: emit(text, marks, outer.inner, outer.close).trim(), rest: text.slice(outer.end) };
}

function emit(text: string, marks: Marks, from: number, to: number): string {
  let out = '';
  let i = from;
  while (i < to) {
    const span = marks.spans.get(i);
    if (span !== undefined) {
      out += span[1];
      i = span[0];
    } else {
      if (marks.drop[i] === 0) out += text[i];
      i++;
    }
  }
  return out;
}

function marksOf(text: string): Marks {
  const n = text.length;
  const drop = new Uint8Array(n);
  /** Characters that are no markup: escaped, or inside a code span. */
  const inert = new Uint8Array(n);
  const spans = new Map<number, [number, string]>();
  const closers = backtickRuns(text);
  for (let i = 0; i < n; ) {
    const c = text[i];
    if (c === '\\' && i + 1 < n && (ASCII_PUNCTUATION.test(text[i + 1]!) || text[i + 1] === '\n')) {
      drop[i] = 1;
      if (text[i + 1] === '\n') drop[i + 1] = 1; // a hard line break: no text of its own
      inert[i + 1] = 1;
      i += 2;
    } else if (c === '`') {
      let len = 1;
      while (text[i + len] === '`') len++;
      const close = closers.next(len, i + len);
      if (close === -1) {
        inert.fill(1, i, i + len);
      } else {
        spans.set(i, [close + len, codeText(text.slice(i + len, close))]);
        inert.fill(1, i, close + len);
      }
      i = close === -1 ? i + len : close + len;
    } else {
      i++;
    }
  }
  markLinks(text, drop, inert);
  return { drop, spans, matches: markEmphasis(text, drop, inert) };
}

/** CommonMark code span text: line endings as spaces, one padding space off each side. */
function codeText(raw: string): string {
  const s = raw.replace(/\n/g, ' ');
  return s.length >= 2 && s.startsWith(' ') && s.endsWith(' ') && s.trim() !== '' ? s.slice(1, -1) : s;
}

/** Backtick runs by length, each list walked once: finding every closer costs O(n) in all. */
function backtickRuns(text: string): { next(len: number, from: number): number } {
  const byLength = new Map<number, number[]>();
  for (let i = 0; i < text.length; ) {
    if (text[i] !== '`') {
      i++;
      continue;
    }
    let len = 1;
    while (text[i + len] === '`') len++;
    const list = byLength.get(len) ?? [];
    list.push(i);
    byLength.set(len, list);
    i += len;
  }
  const cursor = new Map<number, number>();
  return {
    next(len, from) {
      const list = byLength.get(len);
      if (list === undefined) return -1;
      let k = cursor.get(len) ?? 0;
      while (k < list.length && list[k]! < from) k++;
      cursor.set(len, k);
      return k < list.length ? list[k]! : -1;
    },
  };
}

/**
 * `[text](destination)` keeps its text, `![alt](source)` shows nothing, `<scheme:…>`
 * loses its brackets. Brackets and parentheses are paired with one stack each.
 */
function markLinks(text: string, drop: Uint8Array, inert: Uint8Array): void {
  const n = text.length;
  const bracketOf = new Int32Array(n).fill(-1);
  const parenOf = new Int32Array(n).fill(-1);
  const brackets: number[] = [];
  const parens: number[] = [];
  for (let i = 0; i < n; i++) {
    if (inert[i] === 1) continue;
    const c = text[i];
    if (c === '[') brackets.push(i);
    else if (c === ']' && brackets.length > 0) bracketOf[brackets.pop()!] = i;
    else if (c === '(') parens.push(i);
    else if (c === ')' && parens.length > 0) parenOf[parens.pop()!] = i;
  }
  for (let i = 0; i < n; i++) {
    if (drop[i] === 1 || inert[i] === 1) continue;
    if (text[i] === '<') {
      AUTOLINK.lastIndex = i;
      if (AUTOLINK.test(text)) {
        drop[i] = 1;
        drop[AUTOLINK.lastIndex - 1] = 1;
        i = AUTOLINK.lastIndex - 1;
      }
      continue;
    }
    if (text[i] !== '[') continue;
    const close = bracketOf[i]!;
    const paren = close + 1;
    if (close === -1 || text[paren] !== '(' || inert[paren] === 1 || parenOf[paren] === -1) continue;
    const end = parenOf[paren]! + 1;
    const image = i > 0 && text[i - 1] === '!' && drop[i - 1] === 0 && inert[i - 1] === 0;
    if (image) {
      drop.fill(1, i - 1, end);
    } else {
      drop[i] = 1;
      drop.fill(1, close, end);
    }
  }
}

interface Delimiter {
  ch: string;
  pos: number;
  len: number;
  /** Characters not yet used by a match. */
  count: number;
  open: boolean;
  close: boolean;
  prev: number;
  next: number;
}

/** CommonMark's "process emphasis", with its openers-bottom bound that keeps it linear. */
function markEmphasis(text: string, drop: Uint8Array, inert: Uint8Array): Marks['matches'] {
  const delims: Delimiter[] = [];
  for (let i = 0; i < text.length; ) {
    const ch = text[i]!;
    if ((ch !== '*' && ch !== '_') || drop[i] === 1 || inert[i] === 1) {
      i++;
      continue;
    }
    let len = 1;
    while (text[i + len] === ch && drop[i + len] === 0 && inert[i + len] === 0) len++;
    const before = i === 0 ? ' ' : text[i - 1]!;
    const after = i + len >= text.length ? ' ' : text[i + len]!;
    const left = !isSpace(after) && (!isPunct(after) || isSpace(before) || isPunct(before));
    const right = !isSpace(before) && (!isPunct(before) || isSpace(after) || isPunct(after));
    const open = ch === '*' ? left : left && (!right || isPunct(before));
    const close = ch === '*' ? right : right && (!left || isPunct(after));
    delims.push({ ch, pos: i, len, count: len, open, close, prev: delims.length - 1, next: delims.length + 1 });
    i += len;
  }
  const matches: Marks['matches'] = [];
  if (delims.length === 0) return matches;
  delims.at(-1)!.next = -1;
  const unlink = (k: number): void => {
    const d = delims[k]!;
    if (d.prev !== -1) delims[d.prev]!.next = d.next;
    if (d.next !== -1) delims[d.next]!.prev = d.prev;
  };
  const bottom = new Map<string, number>();
  let closer = 0;
  while (closer !== -1) {
    const c = delims[closer]!;
    if (!c.close) {
      closer = c.next;
      continue;
    }
    const key = `${c.ch}${c.len % 3}${c.open ? 1 : 0}`;
    const floor = bottom.get(key) ?? -1;
    let opener = c.prev;
    while (opener > floor) {
      const o = delims[opener]!;
      const oddMatch = (c.open || o.close) && (o.len + c.len) % 3 === 0 && !(o.len % 3 === 0 && c.len % 3 === 0);
      if (o.ch === c.ch && o.open && !oddMatch) break;
      opener = o.prev;
    }
    if (opener <= floor) {
      bottom.set(key, c.prev);
      const next = c.next;
      if (!c.open) unlink(closer);
      closer = next;
      continue;
    }
    const o = delims[opener]!;
    const use = o.count >= 2 && c.count >= 2 ? 2 : 1;
    const openAt = o.pos + o.count - use;
    const closeAt = c.pos + c.len - c.count;
    drop.fill(1, openAt, openAt + use);
    drop.fill(1, closeAt, closeAt + use);
    matches.push({ open: openAt, inner: openAt + use, close: closeAt, end: closeAt + use, use });
    o.count -= use;
    c.count -= use;
    o.next = closer; // the delimiters between them can no longer match
    c.prev = opener;
    if (o.count === 0) unlink(opener);
    if (c.count === 0) {
      const next = c.next;
      unlink(closer);
      closer = next;
    }
  }
  return matches;
}

function isSpace(c: string): boolean {
  return /\s/.test(c);
}

function isPunct(c: string): boolean {
  return PUNCTUATION.test(c);
}
