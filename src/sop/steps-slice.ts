// micromark costs about a microsecond per character, and a SOP.md is mostly prose
// around the one section we read. A cheap line scan finds the `## Steps` section so
// only that part goes through the markdown parser; the parser still decides what the
// section holds. The scan is conservative: it ends the slice only at a line that is
// certainly a top-level heading of depth 1 or 2 (ATX, at column 0, outside fences).
// When it finds no candidate, or the candidate is not a heading after all, the caller
// parses the whole document.

export interface StepsSlice {
  text: string;
  /** Lines before the slice, to map line numbers back to the file. */
  lineOffset: number;
}

const STEPS_HEADING = /^ {0,3}##[ \t]+steps[ \t]*#*[ \t]*$/i;
const TOP_HEADING = /^#{1,2}(?:[ \t]|$)/;
const FENCE = /^[ \t]*(`{3,}|~{3,})/;

export function stepsSlice(src: string): StepsSlice | null {
  const lines = src.split('\n');
  let fence: string | null = null;
  let from = -1;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const open = FENCE.exec(line);
    if (fence !== null) {
      // A closing fence uses the same character, at least as long as the opening one.
      if (open !== null && open[1]![0] === fence[0] && open[1]!.length >= fence.length && line.trim() === open[1]) fence = null;
      continue;
    }
    if (open !== null) {
      fence = open[1]!;
      continue;
    }
    if (from === -1) {
      if (STEPS_HEADING.test(line)) from = i;
    } else if (TOP_HEADING.test(line)) {
      return { text: lines.slice(from, i).join('\n'), lineOffset: from };
    }
  }
  return from === -1 ? null : { text: lines.slice(from).join('\n'), lineOffset: from };
}
