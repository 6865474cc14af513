// serial_write's side of a port: one exchange at a time (a line written, then perhaps a
// line awaited), each bounded by its timeout from the moment it is asked for, so a
// stuck port or a silent device never holds a step forever. A write to a closed
// serialport waits for a future open without a word: the port is checked first.

import type { Clock } from '../../core/clock.js';
import type { SerialDevice } from './device.js';

export type ExchangeResult = { ok: true; output: string } | { ok: false; error: string };

export interface ExchangeRequest {
  /** One line; the delimiter is appended unless it already ends the data. */
  data: string;
  /** Wait for the first line received that matches; null = done once written. */
  expect: RegExp | null;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface LineWatcher {
  line(text: string): void;
  lost(reason: string): void;
}

/** What an exchange needs of its port. */
export interface ExchangePort {
  readonly path: string;
  readonly delimiter: string;
  /** The open device, or null with the reason it is down. */
  device(): { device: SerialDevice } | { down: string };
  /** Every decoded line received from now on, and the loss of the port; returns the unsubscribe. */
  watch(watcher: LineWatcher): () => void;
  /** A line was written and drained. */
  written(bytes: number): void;
}

const seconds = (ms: number): string => `${Number((ms / 1000).toFixed(3))} s`;

export class ExchangeQueue {
  /** Settles when the last exchange asked for so far is over. */
  private tail: Promise<void> = Promise.resolve();
  /** Exchanges asked for and not yet over: with none, the next one starts at once. */
  private unfinished = 0;

  constructor(
    private readonly port: ExchangePort,
    private readonly clock: Clock,
  ) {}

  run(req: ExchangeRequest): Promise<ExchangeResult> {
    const { path, delimiter } = this.port;
    // One exchange is one line: a delimiter inside it (a templated payload's, say) would
    // send the device a second command nobody wrote. One at the end is the line's own.
    const line = req.data.endsWith(delimiter) ? req.data.slice(0, -delimiter.length) : req.data;
    if (line.includes(delimiter)) {
      return Promise.resolve({ ok: false, error: `the data holds the line delimiter ${JSON.stringify(delimiter)} before its end: one serial_write sends one line` });
    }
    const now = this.port.device();
    if ('down' in now) return Promise.resolve({ ok: false, error: `${path} is down: ${now.down}` });
    if (req.signal?.aborted) return Promise.resolve({ ok: false, error: 'cancelled' });

    return new Promise<ExchangeResult>((resolve) => {
      let phase: 'queued' | 'writing' | 'expecting' = 'queued';
      let done = false;
      const cleanups: (() => void)[] = [];
      const finish = (result: ExchangeResult): void => {
        if (done) return;
        done = true;
        for (const cleanup of cleanups) cleanup();
        resolve(result);
      };

      // The next exchange starts once this one is over and every earlier one too.
      const previous = this.unfinished === 0 ? null : this.tail;
      let release!: () => void;
      const over = new Promise<void>((r) => (release = r));
      this.unfinished++;
      this.tail = (previous ?? Promise.resolve()).then(() => over).finally(() => this.unfinished--);
      cleanups.push(release);

      const timer = this.clock.setTimer(req.timeoutMs, () => {
        const limit = seconds(req.timeoutMs);
        if (phase === 'queued') finish({ ok: false, error: `${path} stayed busy with other serial_write steps for ${limit}` });
        else if (phase === 'writing') finish({ ok: false, error: `the write to ${path} did not finish within ${limit}` });
        else finish({ ok: false, error: `no line matching ${String(req.expect)} within ${limit}` });
      });
      cleanups.push(() => timer.cancel());
      if (req.signal !== undefined) {
        const signal = req.signal;
        const onAbort = (): void => finish({ ok: false, error: 'cancelled' });
        signal.addEventListener('abort', onAbort, { once: true });
        cleanups.push(() => signal.removeEventListener('abort', onAbort));
      }

      const begin = (): void => {
        if (done) return;
        const current = this.port.device();
        if ('down' in current) {
          finish({ ok: false, error: `${path} is down: ${current.down}` });
          return;
        }
        const expect = req.expect;
        if (expect !== null) {
          // Watching starts before the write: a quick answer must not be missed.
          cleanups.push(
            this.port.watch({
              line: (text) => {
                if (expect.test(text)) finish({ ok: true, output: text });
              },
              lost: (reason) => finish({ ok: false, error: `${path} went down while waiting for a line matching ${String(expect)}: ${reason}` }),
            }),
          );
        }
        phase = 'writing';
        const bytes = Buffer.from(line + delimiter, 'utf8');
        current.device.write(bytes).then(
          () => {
            this.port.written(bytes.length);
            if (expect === null) finish({ ok: true, output: `wrote ${bytes.length} bytes to ${path}` });
            else phase = 'expecting';
          },
          (err: unknown) => finish({ ok: false, error: `the write to ${path} failed: ${err instanceof Error ? err.message : String(err)}` }),
        );
      };
      if (previous === null) begin();
      else void previous.then(begin);
    });
  }
}
