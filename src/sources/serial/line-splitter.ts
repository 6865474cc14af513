// Splits a byte stream into lines with bounded memory and time. A device at the wrong
// baud rate may never send the delimiter: the current line is held in one buffer of
// fixed size, an overlong line is dropped whole (everything up to the next delimiter
// is discarded), and every byte is looked at a bounded number of times. Lines that lie
// within one chunk are handed on as views of the chunk, without a copy.

const CR = 0x0d;

export interface LineSink {
  /** A complete line without its delimiter and without one "\r" before it; valid only during the call. */
  line(bytes: Buffer): void;
  /** A line longer than the limit was dropped (called once per such line). */
  tooLong(): void;
}

export class LineSplitter {
  private readonly delimiter: Buffer;
  /** What indexOf looks for: a single byte is searched as a number, which is faster. */
  private readonly needle: Buffer | number;
  /** The current line's bytes so far; room for the limit, a "\r" and a partial delimiter. */
  private readonly pending: Buffer;
  private length = 0;
  /** Inside an overlong line: bytes are dropped until the next delimiter. */
  private discarding = false;

  constructor(
    delimiter: string,
    private readonly maxLineBytes: number,
    private readonly sink: LineSink,
  ) {
    this.delimiter = Buffer.from(delimiter, 'utf8');
    this.needle = this.delimiter.length === 1 ? this.delimiter[0]! : this.delimiter;
    this.pending = Buffer.allocUnsafe(maxLineBytes + this.delimiter.length);
  }

  /** Forgets a partial line (the device went away in the middle of it). */
  reset(): void {
    this.length = 0;
    this.discarding = false;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    if (this.length > 0 && this.delimiter.length > 1) {
      const held = this.straddle(chunk);
      if (held > 0) {
        this.endPending(this.length - held);
        pos = this.delimiter.length - held;
      }
    }
    for (;;) {
      const at = chunk.indexOf(this.needle, pos);
      if (at < 0) break;
      if (this.length === 0 && !this.discarding) {
        this.emit(chunk, pos, at);
      } else {
        this.append(chunk, pos, at);
        this.endPending(this.length);
      }
      pos = at + this.delimiter.length;
    }
    if (pos < chunk.length) this.append(chunk, pos, chunk.length);
  }

  /**
   * How many bytes at the end of the pending line begin a delimiter that the chunk
   * completes (0 if none); the longest such start is the earliest delimiter.
   */
  private straddle(chunk: Buffer): number {
    const d = this.delimiter;
    for (let held = Math.min(d.length - 1, this.length); held > 0; held--) {
      const rest = d.length - held;
      if (chunk.length < rest) continue;
      if (this.pending.compare(d, 0, held, this.length - held, this.length) !== 0) continue;
      if (chunk.compare(d, held, d.length, 0, rest) === 0) return held;
    }
    return 0;
  }

  private append(chunk: Buffer, from: number, to: number): void {
    const n = to - from;
    if (!this.discarding && this.length + n <= this.pending.length) {
      chunk.copy(this.pending, this.length, from, to);
      this.length += n;
      return;
    }
    if (!this.discarding) {
      this.discarding = true;
      this.sink.tooLong();
    }
    // Keep only what could begin a delimiter that the next chunk completes.
    const keep = this.delimiter.length - 1;
    if (n >= keep) {
      chunk.copy(this.pending, 0, to - keep, to);
      this.length = keep;
    } else {
      const old = Math.min(this.length, keep - n);
      this.pending.copyWithin(0, this.length - old, this.length);
      chunk.copy(this.pending, old, from, to);
      this.length = old + n;
    }
  }

  private endPending(end: number): void {
    if (this.discarding) this.discarding = false;
    else this.emit(this.pending, 0, end);
    this.length = 0;
  }

  private emit(bytes: Buffer, from: number, to: number): void {
    if (to > from && bytes[to - 1] === CR) to--;
    if (to - from > this.maxLineBytes) this.sink.tooLong();
    else this.sink.line(bytes.subarray(from, to));
  }
}
