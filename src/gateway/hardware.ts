// The board profiles in use, running: one GpioBoard per board with GPIO signals, one
// SerialSource for the serial ports and one for the simulated serial devices of sim boards.
// Every signal hands its events to the gateway's one event path; what the rest of the
// gateway needs of them (gpio_write and serial_write, the approval button, the status LED,
// /api/peripherals, /api/sim, /metrics) is answered here, by "<board>/<signal>".
import type { BoardProfile, BoardProfilesResult, Level, SignalConfig } from '../config/board-profile.js';
import type { Clock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { GatewayEvent } from '../core/events.js';
import type { Logger } from '../core/log.js';
import type { Metric, MetricSample } from '../core/prometheus.js';
import type { GpioLookup, GpioOutputHandle, SerialLookup, SerialPortHandle } from '../executors/index.js';
import type { PeripheralState, Peripherals, SimAnswer } from '../http/index.js';
import { GpioBoard, type GpiodOptions, type SysfsOptions } from '../sources/gpio/index.js';
import { DROP_REASONS, type OpenDevice, SerialSource, type SerialSignalOptions, type SerialSignalStatus, SimSerialDevices, simSerialPath } from '../sources/serial/index.js';

export interface HardwareDeps {
  profiles: BoardProfilesResult;
  clock: Clock;
  logger: Logger;
  onEvent(event: GatewayEvent): void;
  /** A press on a gpio_in with `approve`. */
  onApprovePress(board: string, signal: string, sop: string | null): void;
  gpiod?: GpiodOptions;
  sysfs?: SysfsOptions;
  /** Opens real serial ports; default serialport, loaded on the first open. */
  openDevice?: OpenDevice;
}

interface Board {
  profile: BoardProfile;
  gpio: GpioBoard | null;
  /** Why the board is not running (its profile has errors), or null. */
  notStarted: string | null;
}

const NOT_STARTED = 'not started: its profile has errors (sopgate validate lists them)';

export class Hardware implements Peripherals {
  private readonly boards = new Map<string, Board>();
  private readonly simDevices: SimSerialDevices;
  private readonly serial: SerialSource | null;
  private readonly simSerial: SerialSource | null;

  constructor(private readonly deps: HardwareDeps) {
    const broken = new Set(deps.profiles.errors.map((e) => e.file));
    this.simDevices = new SimSerialDevices(deps.clock);
    const real: SerialSignalOptions[] = [];
    const sim: SerialSignalOptions[] = [];
    for (const profile of deps.profiles.boards) {
      const notStarted = broken.has(profile.file) ? NOT_STARTED : null;
      const hasGpio = [...profile.signals.values()].some((s) => s.type !== 'serial');
      const gpio =
        notStarted === null && hasGpio
          ? new GpioBoard(profile, {
              clock: deps.clock,
              logger: deps.logger.child('gpio'),
              onEvent: deps.onEvent,
              onApprovePress: deps.onApprovePress,
              ...(deps.gpiod === undefined ? {} : { gpiod: deps.gpiod }),
              ...(deps.sysfs === undefined ? {} : { sysfs: deps.sysfs }),
            })
          : null;
      this.boards.set(profile.name, { profile, gpio, notStarted });
      if (notStarted !== null) continue;
      for (const s of profile.signals.values()) {
        if (s.type !== 'serial') continue;
        const options = { board: profile.name, signal: s.name, baud: s.baud, format: s.format, delimiter: s.delimiter, maxLineBytes: s.max_line_bytes };
        if (profile.gpio === 'sim') {
          const path = simSerialPath(profile.name, s.name);
          this.simDevices.add(path, s.delimiter);
          sim.push({ ...options, path });
        } else {
          real.push({ ...options, path: s.path ?? '' });
        }
      }
    }
    const source = (signals: SerialSignalOptions[], openDevice?: OpenDevice) =>
      signals.length === 0
        ? null
        : new SerialSource({ signals, clock: deps.clock, logger: deps.logger, onEvent: deps.onEvent, ...(openDevice === undefined ? {} : { openDevice }) });
    this.serial = source(real, deps.openDevice);
    this.simSerial = source(sim, this.simDevices.open);
  }

  /** Claims every line and opens every port; never rejects (a signal that cannot start is down). */
  async start(): Promise<void> {
    const log = this.deps.logger.child('boards');
    for (const f of this.deps.profiles.errors) log.log('error', `${where(f)}: ${f.message}`);
    for (const f of this.deps.profiles.warnings) log.log('warn', `${where(f)}: ${f.message}`);
    const starts: Promise<void>[] = [];
    for (const board of this.boards.values()) {
      if (board.notStarted !== null) log.log('error', `board ${board.profile.name} (${board.profile.file}) ${board.notStarted}`);
      const gpio = board.gpio;
      if (gpio !== null) starts.push(gpio.start().catch((err: unknown) => log.log('error', `board ${gpio.name}: cannot start: ${errorMessage(err)}`)));
    }
    if (this.serial !== null) starts.push(this.serial.start());
    if (this.simSerial !== null) starts.push(this.simSerial.start());
    await Promise.all(starts);
  }

  /** Releases every line and port, in reverse order of start. */
  async stop(): Promise<void> {
    await Promise.all([this.simSerial?.stop(), this.serial?.stop()]);
    await Promise.all([...this.boards.values()].map((b) => b.gpio?.stop()));
  }

  /** The number of runs waiting for approval: status LEDs blink while it is above 0. */
  setWaitingApprovals(count: number): void {
    for (const b of this.boards.values()) b.gpio?.setWaitingApprovals(count);
  }

  readonly gpioOutput: GpioLookup = (ref) => {
    const found = this.find(ref);
    if (found?.signal.type !== 'gpio_out') return undefined;
    const { board, signal } = found;
    const gpio = board.gpio;
    if (gpio === null) return downOutput(board.notStarted ?? NOT_STARTED);
    const handle: GpioOutputHandle = {
      down: () => {
        const state = gpio.state().find((s) => s.signal === signal.name);
        if (state === undefined) return `board ${board.profile.name} is not running`;
        return state.state === 'down' ? (state.error ?? 'down') : null;
      },
      write: (value) => gpio.write(signal.name, value),
      pulse: (value, ms) => gpio.pulse(signal.name, value, ms),
    };
    return handle;
  };

  readonly serialPort: SerialLookup = (ref) => {
    const port = this.serial?.lookup(ref) ?? this.simSerial?.lookup(ref);
    if (port !== undefined) return port;
    const found = this.find(ref);
    if (found?.signal.type !== 'serial') return undefined;
    const handle: SerialPortHandle = { path: found.signal.path ?? ref, exchange: async () => ({ ok: false, error: `${ref} is down: ${NOT_STARTED}` }) };
    return handle;
  };

  list(): PeripheralState[] {
    const serial = this.serialStatuses();
    const out: PeripheralState[] = [];
    for (const { profile, gpio, notStarted } of this.boards.values()) {
      const gpioStates = new Map((gpio?.state() ?? []).map((s) => [s.signal, s]));
      for (const s of profile.signals.values()) {
        const base = { board: profile.name, signal: s.name, type: s.type };
        if (s.type === 'serial') {
          const backend = profile.gpio === 'sim' ? 'sim' : 'serialport';
          const st = serial.get(`${profile.name}/${s.name}`);
          out.push({ ...base, backend, state: st?.state ?? 'down', value: null, last_event_at: st?.last_event_at ?? null, error: st?.last_error ?? notStarted });
          continue;
        }
        const st = gpioStates.get(s.name);
        const state = st?.state ?? (notStarted === null ? 'starting' : 'down');
        out.push({ ...base, backend: profile.gpio, state, value: st?.value ?? null, last_event_at: st?.last_event_at ?? null, error: st?.error ?? notStarted });
      }
    }
    return out;
  }

  simRead(boardName: string, signalName: string): SimAnswer {
    const found = this.simSignal(boardName, signalName);
    if (!('signal' in found)) return found;
    const { board, signal } = found;
    const base = { board: boardName, signal: signalName, type: signal.type };
    if (signal.type === 'serial') {
      const path = simSerialPath(boardName, signalName);
      return { ok: true, reading: { ...base, value: this.simDevices.last(path), writes: [...this.simDevices.written(path)] } };
    }
    const read = board.gpio?.simRead(signalName) ?? null;
    if (read === null) return { ok: false, status: 409, message: `board "${boardName}" is not running` };
    return { ok: true, reading: { ...base, value: read.value, writes: read.writes.map((w) => ({ value: w.value, at: w.at })) } };
  }

  simDrive(boardName: string, signalName: string, body: string): SimAnswer {
    const found = this.simSignal(boardName, signalName);
    if (!('signal' in found)) return found;
    const { board, signal } = found;
    const ref = `${boardName}/${signalName}`;
    if (signal.type === 'gpio_out') return { ok: false, status: 400, message: `${ref} is a gpio_out: the gateway drives it (GET shows what it wrote)` };
    if (signal.type === 'serial') {
      if (body === '') return { ok: false, status: 400, message: `send the line(s) the device of ${ref} sends as the body` };
      if (!this.simDevices.deliver(simSerialPath(boardName, signalName), body)) return { ok: false, status: 409, message: `${ref} is not open` };
      return this.simRead(boardName, signalName);
    }
    const text = body.trim();
    if (text !== '0' && text !== '1') return { ok: false, status: 400, message: `${ref} is a gpio_in: send 1 or 0, got ${JSON.stringify(body.slice(0, 40))}` };
    const done = board.gpio?.simulate(signalName, Number(text) as Level) ?? { ok: false, error: `board "${boardName}" is not running` };
    if (!done.ok) return { ok: false, status: 409, message: done.error };
    return this.simRead(boardName, signalName);
  }

  /** sopgate_peripheral_up, sopgate_peripheral_events_total and sopgate_serial_lines_dropped_total. */
  metrics(): Metric[] {
    const states = this.list();
    const serial = this.serialStatuses();
    const counters = new Map<string, number>();
    for (const { profile, gpio } of this.boards.values()) {
      for (const [signal, n] of Object.entries(gpio?.counters() ?? {})) counters.set(`${profile.name}/${signal}`, n);
    }
    for (const [ref, st] of serial) counters.set(ref, st.events);
    const labels = (s: { board: string; signal: string }) => ({ board: s.board, signal: s.signal });
    const dropped: MetricSample[] = [...serial.values()].flatMap((st) => DROP_REASONS.map((reason) => ({ labels: { ...labels(st), reason }, value: st.dropped[reason] })));
    return [
      { name: 'sopgate_peripheral_up', help: 'Whether a board signal is up (1) or starting or down (0).', type: 'gauge', samples: states.map((s) => ({ labels: labels(s), value: s.state === 'up' ? 1 : 0 })) },
      {
        name: 'sopgate_peripheral_events_total',
        help: 'Events a board signal handed on (inputs and serial lines), or writes done (outputs).',
        type: 'counter',
        samples: states.map((s) => ({ labels: labels(s), value: counters.get(`${s.board}/${s.signal}`) ?? 0 })),
      },
      { name: 'sopgate_serial_lines_dropped_total', help: 'Serial lines dropped, by reason.', type: 'counter', samples: dropped },
    ];
  }

  private serialStatuses(): Map<string, SerialSignalStatus> {
    const all = [...(this.serial?.statuses() ?? []), ...(this.simSerial?.statuses() ?? [])];
    return new Map(all.map((s) => [`${s.board}/${s.signal}`, s]));
  }

  private find(ref: string): { board: Board; signal: SignalConfig } | undefined {
    const slash = ref.indexOf('/');
    const board = slash < 0 ? undefined : this.boards.get(ref.slice(0, slash));
    const signal = board?.profile.signals.get(ref.slice(slash + 1));
    return board === undefined || signal === undefined ? undefined : { board, signal };
  }

  private simSignal(boardName: string, signalName: string): { board: Board; signal: SignalConfig } | Extract<SimAnswer, { ok: false }> {
    const board = this.boards.get(boardName);
    if (board === undefined) return { ok: false, status: 404, message: `no board "${boardName}" in the board profiles` };
    if (board.profile.gpio !== 'sim') return { ok: false, status: 404, message: `board "${boardName}" is not a sim board (gpio = "${board.profile.gpio}")` };
    const signal = board.profile.signals.get(signalName);
    if (signal === undefined) return { ok: false, status: 404, message: `board "${boardName}" has no signal "${signalName}"` };
    if (board.notStarted !== null) return { ok: false, status: 409, message: `board "${boardName}" is ${board.notStarted}` };
    return { board, signal };
  }
}

function downOutput(reason: string): GpioOutputHandle {
  const failed = { ok: false as const, error: reason };
  return { down: () => reason, write: async () => failed, pulse: async () => failed };
}

function where(f: { file: string; line: number | null }): string {
  return `${f.file}${f.line === null ? '' : `:${f.line}`}`;
}
