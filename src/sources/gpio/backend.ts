// The one small interface every GPIO backend (libgpiod's tools, onoff on sysfs, the
// simulator) implements. A backend deals in physical levels and raw edges only; debounce,
// active_low, edge filtering and events live above it, in GpioBoard, the same for all.
import type { Bias, GpioBackendName, Level, LineRef } from '../../config/board-profile.js';
import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/log.js';

export interface InputLine {
  signal: string;
  line: LineRef;
  bias: Bias;
  /** The physical level of a released input (logical 0): where the simulator starts it. */
  rest: Level;
}

export interface OutputLine {
  signal: string;
  line: LineRef;
  /** Physical level to drive from the start. */
  level: Level;
}

export interface BackendLines {
  board: string;
  /** The profile's chip; null = lines are found by name. */
  chip: string | null;
  inputs: readonly InputLine[];
  outputs: readonly OutputLine[];
}

export type LineState = 'starting' | 'up' | 'down';

/** Where a backend reports what its lines do. */
export interface BackendSink {
  /** An edge on an input: the line's physical level after it (bounces included). */
  edge(signal: string, level: Level): void;
  /** An input's level read without an edge (at start, where the backend can read it). */
  level(signal: string, level: Level): void;
  /** A line came up, went down (with the reason) or is being (re)started. */
  state(signal: string, state: LineState, error: string | null): void;
}

export type WriteResult = { ok: true } | { ok: false; error: string };

export interface GpioBackend {
  readonly name: GpioBackendName;
  /** Claims the lines. Never rejects: a line that cannot be had is reported down through the sink. */
  start(): Promise<void>;
  /** Releases every line; nothing the backend started outlives it. */
  stop(): Promise<void>;
  /** Drives an output to a physical level. */
  write(signal: string, level: Level): Promise<WriteResult>;
}

export interface BackendContext {
  clock: Clock;
  logger: Logger;
  sink: BackendSink;
}

export type BackendFactory = (lines: BackendLines, ctx: BackendContext) => GpioBackend;

/** Reports one state for several signals: lines that share one process or one missing tool share its fate. */
export function reportAll(sink: BackendSink, signals: Iterable<string>, state: LineState, error: string | null): void {
  for (const signal of signals) sink.state(signal, state, error);
}
