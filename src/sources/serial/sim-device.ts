// Serial devices of sim boards: ports in memory, opened through the same SerialSignal as a
// real port (so lines are split, formatted, counted and answered by serial_write alike).
// The HTTP API and `sopgate sim` play the device: deliver() sends lines to the gateway, and
// what the gateway wrote is kept (the last SIM_LINES_KEPT lines) for anyone to read.

import type { Clock } from '../../core/clock.js';
import { isoTime } from '../../core/time.js';
import type { DeviceHandlers, OpenDevice, SerialDevice } from './device.js';

/** How many written lines each simulated port keeps. */
export const SIM_LINES_KEPT = 100;

export interface SimLine {
  value: string;
  at: string;
}

interface SimPort {
  delimiter: string;
  handlers: DeviceHandlers | null;
  /** The last line the device sent (delivered), or null. */
  last: string | null;
  written: SimLine[];
}

/** The device path a sim board's serial signal is opened at: it names no file. */
export const simSerialPath = (board: string, signal: string): string => `sim:${board}/${signal}`;

export class SimSerialDevices {
  private readonly ports = new Map<string, SimPort>();

  constructor(private readonly clock: Clock) {}

  /** A port that open() will accept, with the delimiter its lines end with. */
  add(path: string, delimiter: string): void {
    this.ports.set(path, { delimiter, handlers: null, last: null, written: [] });
  }

  readonly open: OpenDevice = async (options, handlers) => {
    const port = this.ports.get(options.path);
    if (port === undefined) throw new Error(`no simulated serial device ${options.path}`);
    if (port.handlers !== null) throw new Error(`${options.path} is already open`);
    port.handlers = handlers;
    const device: SerialDevice = {
      get isOpen() {
        return port.handlers === handlers;
      },
      write: async (bytes) => {
        const text = bytes.toString('utf8');
        const line = text.endsWith(port.delimiter) ? text.slice(0, -port.delimiter.length) : text;
        port.written.push({ value: line, at: isoTime(this.clock.now()) });
        if (port.written.length > SIM_LINES_KEPT) port.written.splice(0, port.written.length - SIM_LINES_KEPT);
      },
      close: async () => {
        if (port.handlers === handlers) port.handlers = null;
      },
    };
    return device;
  };

  /**
   * The device sends `text`: a line, or several separated by the delimiter (which is
   * appended when the text does not end with it). False when the port is not open.
   */
  deliver(path: string, text: string): boolean {
    const port = this.ports.get(path);
    if (port?.handlers == null) return false;
    const full = text.endsWith(port.delimiter) ? text : text + port.delimiter;
    const lines = full.slice(0, -port.delimiter.length).split(port.delimiter);
    port.last = lines[lines.length - 1] ?? null;
    port.handlers.data(Buffer.from(full, 'utf8'));
    return true;
  }

  /** The last line delivered to the gateway, or null. */
  last(path: string): string | null {
    return this.ports.get(path)?.last ?? null;
  }

  /** What the gateway wrote, oldest first, without delimiters. */
  written(path: string): readonly SimLine[] {
    return this.ports.get(path)?.written ?? [];
  }
}
