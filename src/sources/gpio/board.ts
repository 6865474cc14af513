// One board's GPIO signals, whatever the backend: starts the backend, debounces its raw
// edges, applies active_low (payloads and writes are logical values) and the edge filter,
// and hands each change on as one `peripheral` GatewayEvent, topic "<board>/<signal>",
// payload "1" or "0". Outputs are written and pulsed here; an approval button and the
// status LED hang off the same signals.
import type { BoardProfile, GpioBackendName, GpioInSignal, GpioOutSignal, Level } from '../../config/board-profile.js';
import type { Clock, TimerHandle } from '../../core/clock.js';
import { errorMessage } from '../../core/errors.js';
import type { GatewayEvent } from '../../core/events.js';
import type { Logger } from '../../core/log.js';
import type { BackendFactory, BackendSink, GpioBackend, InputLine, LineState, OutputLine, WriteResult } from './backend.js';
import { Debouncer } from './debounce.js';
import { GpiodBackend, type GpiodOptions } from './gpiod.js';
import { SimBackend } from './sim.js';
import { StatusLed } from './status-led.js';
import { SysfsBackend, type SysfsOptions } from './sysfs.js';

export interface GpioBoardDeps {
  clock: Clock;
  logger: Logger;
  onEvent(event: GatewayEvent): void;
  /** A press (logical 1) on a gpio_in with `approve`: approve the oldest waiting run (of `sop` only, when given). */
  onApprovePress?(board: string, signal: string, sop: string | null): void;
  /** Makes the backend; by default the one the profile names. */
  backend?: BackendFactory;
  gpiod?: GpiodOptions;
  sysfs?: SysfsOptions;
}

/** What GET /api/peripherals shows of one GPIO signal. */
export interface SignalState {
  board: string;
  signal: string;
  type: 'gpio_in' | 'gpio_out';
  backend: GpioBackendName;
  state: LineState;
  /** Logical value: an input's debounced level, an output's driven level; null while unknown. */
  value: Level | null;
  /** An input's last event, an output's last write (ISO-8601). */
  last_event_at: string | null;
  error: string | null;
  /** Events handed on (inputs) or writes done (outputs). */
  events: number;
}

interface Entry {
  config: GpioInSignal | GpioOutSignal;
  state: LineState;
  error: string | null;
  value: Level | null;
  /** Outputs: the level last asked for, driven once the line is up. */
  requested: Level | null;
  lastEventAt: string | null;
  events: number;
  debouncer: Debouncer | null;
  /** Outputs: writes one after another, and the pulse that is waiting to end. */
  queue: Promise<unknown>;
  generation: number;
  pulseEnd: { timer: TimerHandle; done: () => void } | null;
}

export function defaultBackend(gpio: GpioBackendName, options: Pick<GpioBoardDeps, 'gpiod' | 'sysfs'> = {}): BackendFactory {
  if (gpio === 'sim') return (lines, ctx) => new SimBackend(lines, ctx);
  if (gpio === 'sysfs') return (lines, ctx) => new SysfsBackend(lines, ctx, options.sysfs);
  return (lines, ctx) => new GpiodBackend(lines, ctx, options.gpiod);
}

const flip = (level: Level): Level => (level === 1 ? 0 : 1);

export class GpioBoard {
  readonly name: string;
  private readonly entries = new Map<string, Entry>();
  private backend: GpioBackend | null = null;
  private statusLed: StatusLed | null = null;

  constructor(
    private readonly profile: BoardProfile,
    private readonly deps: GpioBoardDeps,
  ) {
    this.name = profile.name;
  }

  async start(): Promise<void> {
    const { clock, logger } = this.deps;
    const inputs: InputLine[] = [];
    const outputs: OutputLine[] = [];
    for (const config of this.profile.signals.values()) {
      if (config.type === 'serial') continue;
      const entry: Entry = { config, state: 'starting', error: null, value: null, requested: null, lastEventAt: null, events: 0, debouncer: null, queue: Promise.resolve(), generation: 0, pulseEnd: null };
      if (config.type === 'gpio_in') {
        entry.debouncer = new Debouncer(config.debounce_ms, clock, (level) => this.changed(entry, level));
        inputs.push({ signal: config.name, line: config.line, bias: config.bias, rest: config.active_low ? 1 : 0 });
      } else {
        entry.requested = config.initial;
        outputs.push({ signal: config.name, line: config.line, level: config.active_low ? flip(config.initial) : config.initial });
      }
      this.entries.set(config.name, entry);
    }
    const make = this.deps.backend ?? defaultBackend(this.profile.gpio, this.deps);
    this.backend = make({ board: this.name, chip: this.profile.chip, inputs, outputs }, { clock, logger, sink: this.sink() });
    await this.backend.start();
    if (this.profile.status_led !== null) {
      const led = this.profile.status_led;
      this.statusLed = new StatusLed((level) => this.write(led, level), clock);
    }
  }

  async stop(): Promise<void> {
    this.statusLed?.stop();
    for (const entry of this.entries.values()) {
      entry.debouncer?.cancel();
      this.endPulse(entry);
    }
    await this.backend?.stop();
    this.backend = null;
  }

  /** Drives an output to a logical value; a pulse in progress on it is cut short. */
  write(signal: string, value: Level): Promise<WriteResult> {
    const entry = this.output(signal);
    if (!('config' in entry)) return Promise.resolve(entry);
    entry.generation++;
    this.endPulse(entry);
    return this.drive(entry, value);
  }

  /** Drives an output to `value` for `ms`, then to the other value; resolves when it is back. */
  async pulse(signal: string, value: Level, ms: number): Promise<WriteResult> {
    const entry = this.output(signal);
    if (!('config' in entry)) return entry;
    const generation = ++entry.generation;
    this.endPulse(entry);
    const first = await this.drive(entry, value);
    if (!first.ok || entry.generation !== generation) return first;
    await new Promise<void>((done) => (entry.pulseEnd = { timer: this.deps.clock.setTimer(ms, done), done }));
    entry.pulseEnd = null;
    // A later write or pulse took the line over: it decides the level now.
    if (entry.generation !== generation) return first;
    return this.drive(entry, flip(value));
  }

  /** The engine's count of runs waiting for approval: the status LED blinks while it is above 0. */
  setWaitingApprovals(count: number): void {
    this.statusLed?.setWaiting(count);
  }

  state(): SignalState[] {
    return [...this.entries.values()].map((e) => ({
      board: this.name,
      signal: e.config.name,
      type: e.config.type,
      backend: this.profile.gpio,
      state: e.state,
      value: e.value,
      last_event_at: e.lastEventAt,
      error: e.error,
      events: e.events,
    }));
  }

  /** Events per input signal and writes per output signal. */
  counters(): Record<string, number> {
    return Object.fromEntries([...this.entries.values()].map((e) => [e.config.name, e.events]));
  }

  /** Sim boards: sets an input's logical value (an edge only when it changes, through the debounce). */
  simulate(signal: string, value: Level): WriteResult {
    const sim = this.backend instanceof SimBackend ? this.backend : null;
    if (sim === null) return { ok: false, error: `board "${this.name}" is not a sim board (gpio = "${this.profile.gpio}")` };
    const config = this.entries.get(signal)?.config;
    if (config?.type !== 'gpio_in') return { ok: false, error: `"${signal}" is not a gpio_in of board "${this.name}"` };
    return sim.set(signal, config.active_low ? flip(value) : value);
  }

  /** Sim boards: a signal's logical level now and, for an output, its last writes; null if there is no such signal. */
  simRead(signal: string): { signal: string; type: 'gpio_in' | 'gpio_out'; value: Level; writes: { value: Level; at: string }[] } | null {
    const sim = this.backend instanceof SimBackend ? this.backend : null;
    const config = this.entries.get(signal)?.config;
    const level = sim?.level(signal) ?? null;
    if (config === undefined || level === null) return null;
    const logical = (l: Level) => (config.active_low ? flip(l) : l);
    return { signal, type: config.type, value: logical(level), writes: sim!.written(signal).map((w) => ({ value: logical(w.level), at: w.at })) };
  }

  private output(signal: string): Entry | { ok: false; error: string } {
    const entry = this.entries.get(signal);
    if (entry?.config.type !== 'gpio_out') return { ok: false, error: `"${signal}" is not a gpio_out of board "${this.name}"` };
    if (this.backend === null) return { ok: false, error: `board "${this.name}" is not running` };
    return entry;
  }

  private drive(entry: Entry, value: Level): Promise<WriteResult> {
    const config = entry.config;
    const backend = this.backend;
    const result = entry.queue.then(async (): Promise<WriteResult> => {
      if (backend === null || backend !== this.backend) return { ok: false, error: `board "${this.name}" is not running` };
      entry.requested = value;
      const done = await backend.write(config.name, config.active_low ? flip(value) : value);
      if (done.ok) {
        entry.value = value;
        entry.lastEventAt = new Date(this.deps.clock.now()).toISOString();
        entry.events++;
      }
      return done;
    });
    entry.queue = result;
    return result;
  }

  private endPulse(entry: Entry): void {
    if (entry.pulseEnd === null) return;
    entry.pulseEnd.timer.cancel();
    entry.pulseEnd.done();
    entry.pulseEnd = null;
  }

  /** A debounced change of an input's physical level. */
  private changed(entry: Entry, level: Level): void {
    const config = entry.config as GpioInSignal;
    const value = config.active_low ? flip(level) : level;
    entry.value = value;
    const wanted = config.edge === 'both' || (config.edge === 'rising') === (value === 1);
    const timestamp = new Date(this.deps.clock.now()).toISOString();
    if (wanted) {
      entry.events++;
      entry.lastEventAt = timestamp;
      this.guard('the event listener', () => this.deps.onEvent({ source: 'peripheral', topic: `${this.name}/${config.name}`, payload: String(value), timestamp }));
    }
    if (config.approve !== null && value === 1 && this.deps.onApprovePress !== undefined) {
      const press = this.deps.onApprovePress;
      this.guard('the approval press listener', () => press(this.name, config.name, config.approve!.sop));
    }
  }

  /** The board's listener must not be able to break the backend's callback. */
  private guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.deps.logger.log('error', `board ${this.name}: ${what} failed: ${errorMessage(err)}`);
    }
  }

  private sink(): BackendSink {
    return {
      edge: (signal, level) => this.entries.get(signal)?.debouncer?.edge(level),
      level: (signal, level) => {
        const entry = this.entries.get(signal);
        if (entry?.config.type !== 'gpio_in') return;
        entry.debouncer?.know(level);
        entry.value = entry.config.active_low ? flip(level) : level;
      },
      state: (signal, state, error) => {
        const entry = this.entries.get(signal);
        if (entry === undefined) return;
        if (state === 'up' && entry.state === 'down') this.deps.logger.log('info', `board ${this.name}: ${signal} is up again`);
        entry.state = state;
        entry.error = error;
        // An output that comes up drives the level last asked for.
        if (state === 'up' && entry.config.type === 'gpio_out') entry.value = entry.requested;
      },
    };
  }
}
