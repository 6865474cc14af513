// What an executor captures of a step's output (a script's stdout and stderr, an HTTP
// response body): the first bytes up to a cap, and a count of the rest.
import { utf8Boundary } from '../core/text.js';

/** Appends a note on its own line, without an empty line before it. */
export function appendLine(text: string, line: string): string {
  return text === '' || text.endsWith('\n') ? text + line : `${text}\n${line}`;
}

/**
 * Captured output with a byte cap: keeps the first `max` bytes, counts the rest.
 */
export class OutputBuffer {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private dropped = 0;

  constructor(private readonly max: number) {}

  push(chunk: Buffer): void {
    const room = this.max - this.kept;
    if (room > 0) {
      const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
      this.chunks.push(part);
      this.kept += part.length;
    }
    this.dropped += chunk.length - Math.min(chunk.length, Math.max(0, room));
  }

  /** UTF-8 text, plus a `[output truncated: N more bytes]` line when bytes were dropped. */
  text(): string {
    let bytes = Buffer.concat(this.chunks);
    let dropped = this.dropped;
    if (dropped > 0) {
      // Cut before a character split by the cap instead of showing U+FFFD for it.
      const end = utf8Boundary(bytes);
      dropped += bytes.length - end;
      bytes = bytes.subarray(0, end);
    }
    const text = bytes.toString('utf8');
    return dropped > 0 ? appendLine(text, `[output truncated: ${dropped} more bytes]`) : text;
  }
}
