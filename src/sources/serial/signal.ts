// One serial signal: keeps its port open (reopening with back-off after an unplug),
// turns its lines into `peripheral` events, counts what it drops, and serves
// serial_write exchanges. One failing port logs, counts and retries; it never throws.

import type { Clock, TimerHandle } from '../../core/clock.js';
import type { GatewayEvent } from '../../core/events.js';
import type { Logger } from '../../core/log.js';
import { errorMessage } from '../../core/errors.js';
import { isoTime } from '../../core/time.js';
import type { OpenDevice, SerialDevice } from './device.js';
import { openSerialPort } from './open-device.js';
import { ExchangeQueue, type ExchangeRequest, type ExchangeResult, type LineWatcher } from './exchange.js';
import { DROP_REASONS, decodeLine, lineFormatter, type DropReason, type LineFormatter } from './line-format.js';
import { LineSplitter } from './line-splitter.js';
import type { ResolvedSerialSignal, SerialFormat } from './options.js';

export type SerialState = 'starting' | 'up' | 'down';

/** Reopening waits 1 s after a failure, doubling up to 30 s; an open port resets it. */
export const BACKOFF = { firstMs: 1000, maxMs: 30_000 } as const;

export interface SerialSignalStatus {
  board: string;
  signal: string;
  path: string;
  format: SerialFormat;
  state: SerialState;
  last_error: string | null;
  last_event_at: string | null;
  /** Lines received, kept or dropped. */
  lines: number;
  events: number;
  dropped: Record<DropReason, number>;
}

export interface SerialSignalDeps {
  clock: Clock;
  logger: Logger;
  onEvent(event: GatewayEvent): void;
  /** Default: serialport, loaded on the first open. */
  openDevice?: OpenDevice;
}

const WHY: Record<DropReason, string> = {
  too_long: 'a line longer than max_line_bytes (wrong baud rate, or a missing delimiter?)',
  invalid_utf8: 'a line that is not valid UTF-8 (wrong baud rate?)',
  empty: 'an empty line',
  not_kv: 'a line that is not key=value',
  not_json: 'a line that is not JSON',
};

export class SerialSignal {
  readonly name: string;
  readonly path: string;
  readonly delimiter: string;
  private state: SerialState = 'down';
  private lastError: string | null = null;
  private lastEventAt: string | null = null;
  private current: SerialDevice | null = null;
  private retry: TimerHandle | null = null;
  private backoffMs: number = BACKOFF.firstMs;
  private running = false;
  /** The open attempt under way, which stop() waits for so that no port is left open behind it. */
  private opening: Promise<void> | null = null;
  /** Bumped by every open and stop: a late answer from an older attempt is ignored. */
  private generation = 0;
  /** The reason last logged while down: a port that stays away is logged once. */
  private loggedDown: string | null = null;
  /** A drop was logged: the next ones are only counted until a line gets through. */
  private quiet = false;
  private readonly counts = { lines: 0, events: 0, dropped: Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number> };
  private readonly watchers = new Set<LineWatcher>();
  private readonly splitter: LineSplitter;
  private readonly format: LineFormatter;
  private readonly exchanges: ExchangeQueue;
  private readonly log: Logger;

  constructor(
    private readonly options: ResolvedSerialSignal,
    private readonly deps: SerialSignalDeps,
  ) {
    this.name = `${options.board}/${options.signal}`;
    this.path = options.path;
    this.delimiter = options.delimiter;
    this.log = deps.logger.child('serial');
    this.splitter = new LineSplitter(options.delimiter, options.maxLineBytes, { line: (bytes) => this.onLine(bytes), tooLong: () => this.onTooLong() });
    this.format = lineFormatter(options.board, options.signal, options.format);
    this.exchanges = new ExchangeQueue(
      {
        path: this.path,
        delimiter: this.delimiter,
        device: () => (this.current?.isOpen ? { device: this.current } : { down: this.lastError ?? `the port is ${this.state}` }),
        watch: (watcher) => {
          this.watchers.add(watcher);
          return () => this.watchers.delete(watcher);
        },
        written: (bytes) => this.log.log('debug', `${this.name}: wrote ${bytes} bytes to ${this.path}`),
      },
      deps.clock,
    );
  }

  /** Opens the port; resolves after the first attempt, up or down (then retrying). Never rejects. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    // A start after a stop begins afresh: the first failure waits 1 s and is logged.
    this.backoffMs = BACKOFF.firstMs;
    this.loggedDown = null;
    await this.attempt();
  }

  /** Closes the port and stops retrying; resolves once the port (and its lock) is released. */
  async stop(): Promise<void> {
    this.running = false;
    this.generation++;
    this.retry?.cancel();
    this.retry = null;
    const device = this.current;
    this.current = null;
    this.state = 'down';
    this.lose('the gateway is stopping');
    await Promise.all([device?.close(), this.opening]);
  }

  /** Writes one line and perhaps waits for an answer (serial_write). */
  exchange(request: ExchangeRequest): Promise<ExchangeResult> {
    return this.exchanges.run(request);
  }

  status(): SerialSignalStatus {
    return {
      board: this.options.board,
      signal: this.options.signal,
      path: this.path,
      format: this.options.format,
      state: this.state,
      last_error: this.lastError,
      last_event_at: this.lastEventAt,
      lines: this.counts.lines,
      events: this.counts.events,
      dropped: { ...this.counts.dropped },
    };
  }

  private attempt(): Promise<void> {
    const opening = this.open().finally(() => {
      if (this.opening === opening) this.opening = null;
    });
    this.opening = opening;
    return opening;
  }

  private async open(): Promise<void> {
    const generation = ++this.generation;
    this.state = 'starting';
    let device: SerialDevice;
    try {
      device = await (this.deps.openDevice ?? openSerialPort)(
        { path: this.path, baudRate: this.options.baud },
        {
          data: (chunk) => {
            if (generation === this.generation) this.splitter.push(chunk);
          },
          lost: (reason) => this.onLost(generation, errorMessage(reason)),
        },
      );
    } catch (err) {
      if (generation === this.generation) this.down(errorMessage(err), 'cannot open');
      return;
    }
    if (generation !== this.generation) {
      // Stopped (or superseded) while opening: release the port at once.
      await device.close();
      return;
    }
    this.current = device;
    this.state = 'up';
    this.lastError = null;
    this.backoffMs = BACKOFF.firstMs;
    this.splitter.reset();
    const again = this.loggedDown === null ? '' : ' again';
    this.log.log('info', `${this.name}: reading ${this.path}${again} at ${this.options.baud} baud (${this.options.format})`);
    this.loggedDown = null;
  }

  private onLost(generation: number, reason: string): void {
    if (generation !== this.generation || this.current === null) return;
    const device = this.current;
    this.current = null;
    // Closing releases the port's lock, should it still be open after an I/O error.
    void device.close();
    this.lose(reason);
    this.down(reason, 'lost');
  }

  private down(reason: string, what: 'cannot open' | 'lost'): void {
    this.state = 'down';
    this.lastError = reason;
    if (!this.running) return;
    if (this.loggedDown === null) {
      this.log.log('warn', `${this.name}: ${what} ${this.path}: ${reason}; reopening with back-off from ${BACKOFF.firstMs / 1000} s to ${BACKOFF.maxMs / 1000} s`);
      this.loggedDown = reason;
    } else {
      this.log.log('debug', `${this.name}: cannot reopen ${this.path}: ${reason}`);
    }
    this.retry = this.deps.clock.setTimer(this.backoffMs, () => {
      this.retry = null;
      void this.attempt();
    });
    this.backoffMs = Math.min(this.backoffMs * 2, BACKOFF.maxMs);
  }

  private lose(reason: string): void {
    for (const watcher of [...this.watchers]) watcher.lost(reason);
  }

  private onLine(bytes: Buffer): void {
    this.counts.lines++;
    const text = decodeLine(bytes);
    if (text === null) {
      this.drop('invalid_utf8');
      return;
    }
    for (const watcher of this.watchers) watcher.line(text);
    const out = this.format(text);
    if (typeof out === 'string') {
      this.drop(out);
      return;
    }
    this.counts.events++;
    const timestamp = isoTime(this.deps.clock.now());
    this.lastEventAt = timestamp;
    if (this.quiet) {
      this.quiet = false;
      this.log.log('info', `${this.name}: lines get through again`);
    }
    try {
      this.deps.onEvent({ source: 'peripheral', topic: out.topic, payload: out.payload, timestamp });
    } catch (err) {
      this.log.log('error', `${this.name}: the event sink failed: ${errorMessage(err)}`);
    }
  }

  private onTooLong(): void {
    this.counts.lines++;
    this.drop('too_long');
  }

  private drop(reason: DropReason): void {
    this.counts.dropped[reason]++;
    // Blank lines between records are common and harmless: counted, never logged.
    if (reason === 'empty' || this.quiet) return;
    this.quiet = true;
    this.log.log('warn', `${this.name}: dropped ${WHY[reason]} from ${this.path}; further drops are counted, not logged, until a line gets through`);
  }
}
