// Reads the `## Steps` section of a SOP.md line by line (docs/sop-format.md).
//
// People write SOPs in plain editors, and the format is line-oriented: a numbered line at
// the left margin starts a step, and everything up to the next one belongs to it,
// whether or not it is indented under it. What the lines hold is read as CommonMark
// reads it where that matters for a step (list items and how far they reach, fenced
// code, paragraphs, headings), and nothing more: one pass, each line looked at once, so
// the cost follows the file's size whatever the file holds.

import { closesFence, dedent, kindOf, leadingWhitespace, type Line, type LineKind } from './md-lines.js';

/** A line of a step's body, with the block group it belongs to (for common indentation). */
export interface BodyLine {
  text: string;
  group: number;
}

export interface RawAction {
  /** The info string's first word. */
  lang: string;
  line: number;
  content: string[];
}

export interface RawStep {
  /** 1..n by position. */
  number: number;
  /** As written: `3` in `3. **Title**`. */
  written: string;
  line: number;
  /** The step's first paragraph, lines trimmed at the start; null when the item starts with another block. */
  titleLines: string[] | null;
  body: BodyLine[];
  /** Fenced blocks whose info string names an action. */
  actions: RawAction[];
}

type Para =
  | { kind: 'title' }
  | { kind: 'bullet'; text: string[]; raw: BodyLine[]; line: number }
  | { kind: 'text'; top: boolean; from: number }
  | { kind: 'quote' };

interface Fence {
  char: string;
  length: number;
  /** Columns its content lines lose. */
  indent: number;
  /** The content column of the list item it is in (0 at the top level): a line left of it ends the item and the fence. */
  base: number;
  action: RawAction | null;
}

type Item = Extract<LineKind, { kind: 'item' }>;

/** An open list item. */
interface Container {
  /** The column its content starts at: a line left of it (other than a lazy one) closes it. */
  content: number;
  /** Its marker (`-`, `*`, `+`, `.`, `)`): the next item with the same one in the same place is in the same list. */
  marker: string;
  /** The step's own item. */
  step: boolean;
  /** Its first line had no content and no line has been placed in it since. */
  empty: boolean;
}

const TEXT: LineKind = { kind: 'text' };
const NONE: readonly Container[] = [];
/** List markers read on one line (`- - - x`); deeper ones are text. */
const MAX_MARKERS_PER_LINE = 16;

export class StepsReader {
  readonly steps: RawStep[] = [];
  private step: RawStep | null = null;
  /** The open list items, outermost first: the step's own item at [0] while it is open. */
  private containers: Container[] = [];
  private para: Para | null = null;
  private fence: Fence | null = null;
  private group = 0;
  /** Items closed by a blank line after an empty first line, innermost first. */
  private readonly endedEmpty: Container[] = [];
  /** Blank lines the next line will place: inside a list block, or between blocks. */
  private blanks = 0;

  /**
   * `isAction(lang)`: whether a fence with this info string is a step's action.
   * `takeKey(step, text, line)`: whether a sub-bullet's paragraph is a `key: value` of the
   * step (it then leaves the body).
   */
  constructor(
    private readonly isAction: (lang: string) => boolean,
    private readonly takeKey: (step: RawStep, text: string, line: number) => boolean,
  ) {}

  /** Reads one line of the section; false when it ends the section (a heading of depth 1 or 2). */
  line(l: Line): boolean {
    const fence = this.fence;
    if (fence !== null) {
      if (closesFence(l, fence, fence.base)) {
        if (fence.action === null) this.body(l.text);
        this.fence = null;
        return true;
      }
      const leftOfItem = fence.base > 0 && l.indent < fence.base && !isBlank(l.text);
      if (!leftOfItem) {
        if (fence.action !== null) fence.action.content.push(dedent(l.text, fence.indent));
        else this.body(l.text);
        return true;
      }
      this.fence = null; // the item ends, and the fence with it
    }
    if (isBlank(l.text)) {
      this.closePara();
      // An item whose first line was empty ends at a blank line: it can hold nothing more
      // (its list goes on: the next item may follow).
      while (this.containers.at(-1)?.empty === true) this.endedEmpty.push(this.containers.pop()!);
      this.blanks++;
      return true;
    }
    const para = this.para;
    const underlines = para?.kind === 'text' && para.top && l.indent <= 3;
    let own = kindOf(l.text, l.indent, underlines);
    // An empty item cannot interrupt a paragraph beside it (it can start after the item or
    // the quote it closes).
    const beside = para !== null && para.kind !== 'quote' && !this.closesItem(l.indent);
    if (beside && own.kind === 'item' && isBlank(own.rest)) own = TEXT;
    // A text line continues an open paragraph wherever it starts (a "lazy" line); a quoted
    // line continues a quote in the same list item.
    const lazy = para !== null && own.kind === 'text';
    // Innermost first: the items a blank line ended, then those this line leaves.
    const left = lazy ? NONE : this.leave(l.indent);
    const popped = this.endedEmpty.length === 0 ? left : this.endedEmpty.splice(0).concat(left);
    const continues = lazy || (para?.kind === 'quote' && own.kind === 'quote' && popped.length === 0);
    const inner = this.containers.at(-1);
    const firstInStep = inner?.step === true && inner.empty;
    if (inner !== undefined) inner.empty = false;
    this.placeBlanks(continues, own, popped);
    if (continues && own.kind === 'quote') {
      this.body(l.text);
      return true;
    }
    const kind = l.indent - this.base() > 3 ? TEXT : own;
    if (firstInStep && kind.kind === 'text') {
      // `2.` alone, then its text on the next line: that paragraph is the title.
      this.step!.titleLines = [l.text.trimStart()];
      this.para = { kind: 'title' };
      return true;
    }
    return this.handle(l, l.text, l.indent, kind);
  }

  /** The end of the section or the file. */
  end(): void {
    this.closePara();
    this.fence = null;
  }

  private handle(l: Line, text: string, indent: number, kind: LineKind): boolean {
    const top = this.containers.length === 0;
    switch (kind.kind) {
      case 'blank':
        return true;
      case 'text':
        if (this.para === null) {
          this.para = { kind: 'text', top, from: this.step?.body.length ?? 0 };
          this.body(text);
        } else {
          this.continuePara(text);
        }
        return true;
      case 'underline':
        // The paragraph above is a heading that ends the section: it is no step's body.
        if (this.para?.kind === 'text' && this.step !== null) this.step.body.length = this.para.from;
        this.para = null;
        return false;
      case 'heading':
        this.closePara();
        if (top && kind.depth <= 2) return false;
        this.body(text);
        return true;
      case 'fence': {
        this.closePara();
        const lang = kind.info.split(/\s/)[0] ?? '';
        const action = this.step !== null && this.isAction(lang) ? { lang, line: l.no, content: [] } : null;
        if (action !== null) this.step!.actions.push(action);
        else this.body(text);
        this.fence = { char: kind.char, length: kind.length, indent, base: this.base(), action };
        return true;
      }
      case 'break':
        this.closePara();
        this.body(text);
        return true;
      case 'quote':
        this.closePara();
        this.body(text);
        this.para = { kind: 'quote' };
        return true;
      case 'item':
        this.closePara();
        if (top && kind.ordered) this.openStep(l, kind);
        else this.openItem(l, text, kind);
        return true;
    }
  }

  private openStep(l: Line, item: Item): void {
    this.group++;
    this.containers = [{ content: item.content, marker: item.marker, step: true, empty: isBlank(item.rest) }];
    const step: RawStep = { number: this.steps.length + 1, written: item.number, line: l.no, titleLines: null, body: [], actions: [] };
    this.step = step;
    this.steps.push(step);
    const restIndent = leadingWhitespace(item.rest);
    const inner = restIndent > 3 ? TEXT : kindOf(item.rest, restIndent);
    if (inner.kind === 'text') {
      step.titleLines = [item.rest.trimStart()];
      this.para = { kind: 'title' };
    } else if (inner.kind !== 'blank') {
      // The item starts with another block (a fence, a bullet, ...): read it where it stands.
      this.handle(l, ' '.repeat(item.content) + item.rest, item.content, inner);
    }
  }

  /** A bullet or a nested numbered item: body, or a `key: value` sub-bullet. */
  private openItem(l: Line, text: string, item: Item): void {
    let current = item;
    for (let depth = 1; ; depth++) {
      this.containers.push({ content: current.content, marker: current.marker, step: false, empty: isBlank(current.rest) });
      const restIndent = leadingWhitespace(current.rest);
      const inner = restIndent > 3 || depth >= MAX_MARKERS_PER_LINE ? TEXT : kindOf(current.rest, restIndent);
      if (inner.kind === 'item') {
        current = inner;
        continue;
      }
      if (inner.kind === 'text' && !current.ordered) {
        this.para = { kind: 'bullet', text: [current.rest.trim()], raw: [{ text, group: this.group }], line: l.no };
      } else if (inner.kind === 'text' || inner.kind === 'blank') {
        this.body(text);
        if (inner.kind === 'text') this.para = { kind: 'text', top: false, from: 0 };
      } else {
        this.handle(l, text, current.content, inner);
      }
      return;
    }
  }

  /** The content column of the innermost open list item, 0 at the top level. */
  private base(): number {
    return this.containers.at(-1)?.content ?? 0;
  }

  /** Whether a line at `indent` is left of an open list item. */
  private closesItem(indent: number): boolean {
    return indent < this.base();
  }

  /** Closes the list items a line at `indent` is left of; returns them. */
  private leave(indent: number): readonly Container[] {
    if (indent >= this.base()) return NONE;
    const popped: Container[] = [];
    while (this.containers.length > 0 && indent < this.base()) popped.push(this.containers.pop()!);
    return popped;
  }

  /**
   * The body is made of blocks (a paragraph, a list with all it holds, a fence, a quote, a
   * heading), each losing its common indentation on its own. A line that neither continues
   * a paragraph nor stays inside a list below the step's own item starts a new block.
   * Blank lines inside a list (between its items, or the paragraphs of one) stay in the
   * body with it; other blank lines only separate blocks.
   */
  private placeBlanks(continues: boolean, own: LineKind, popped: readonly Container[]): void {
    // The outermost item the line closed had the same parent as the item the line starts.
    const closed = popped.at(-1);
    const sibling = own.kind === 'item' && closed !== undefined && !closed.step && closed.marker === own.marker;
    const inList = sibling || this.containers.length > (this.containers[0]?.step === true ? 1 : 0);
    if (inList) for (let i = 0; i < this.blanks; i++) this.body('');
    else if (!continues) this.group++;
    this.blanks = 0;
  }

  private continuePara(text: string): void {
    const para = this.para!;
    if (para.kind === 'title') this.step!.titleLines!.push(text.trimStart());
    else if (para.kind === 'bullet') {
      para.text.push(text.trim());
      para.raw.push({ text, group: this.group });
    } else this.body(text);
  }

  private closePara(): void {
    const para = this.para;
    this.para = null;
    if (para?.kind !== 'bullet' || this.step === null) return;
    if (this.takeKey(this.step, para.text.join('\n'), para.line)) return;
    for (const line of para.raw) this.step.body.push(line);
  }

  private body(text: string): void {
    this.step?.body.push({ text, group: this.group });
  }
}

function isBlank(text: string): boolean {
  return leadingWhitespace(text) === text.length;
}
