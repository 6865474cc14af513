// The serial signals of the board profiles: one SerialSignal per signal, started and
// stopped together. Importing this module loads no native code; the first port that
// opens loads serialport.

import type { Clock } from '../../core/clock.js';
import type { GatewayEvent } from '../../core/events.js';
import type { Logger } from '../../core/log.js';
import type { OpenDevice } from './device.js';
import { resolveSerialSignal, type SerialSignalOptions } from './options.js';
import { SerialSignal, type SerialSignalStatus } from './signal.js';

export interface SerialSourceDeps {
  signals: readonly SerialSignalOptions[];
  clock: Clock;
  logger: Logger;
  /** Every line that makes an event; called synchronously from the port's data handler. */
  onEvent(event: GatewayEvent): void;
  /** Default: serialport, loaded on the first open. */
  openDevice?: OpenDevice;
}

export class SerialSource {
  private readonly byName = new Map<string, SerialSignal>();

  /** Throws on options the board-profile parser should have refused (checked there with resolveSerialSignal). */
  constructor(deps: SerialSourceDeps) {
    for (const options of deps.signals) {
      const resolved = resolveSerialSignal(options);
      if (!resolved.ok) throw new Error(`invalid serial signal: ${resolved.problems.join('; ')}`);
      const signal = new SerialSignal(resolved.value, deps);
      if (this.byName.has(signal.name)) throw new Error(`serial signal ${signal.name} is defined twice`);
      this.byName.set(signal.name, signal);
    }
  }

  /** Opens every port; resolves once each has tried once (those that failed keep retrying). */
  async start(): Promise<void> {
    await Promise.all([...this.byName.values()].map((s) => s.start()));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.byName.values()].map((s) => s.stop()));
  }

  /** The signal named "<board>/<signal>", for serial_write. */
  readonly lookup = (name: string): SerialSignal | undefined => this.byName.get(name);

  statuses(): SerialSignalStatus[] {
    return [...this.byName.values()].map((s) => s.status());
  }
}

export { DROP_REASONS, type DropReason } from './line-format.js';
export type { OpenDevice, SerialDevice, DeviceHandlers } from './device.js';
export type { ExchangeRequest, ExchangeResult } from './exchange.js';
export { SERIAL_DEFAULTS, SERIAL_FORMATS, resolveSerialSignal, type ResolvedSerialSignal, type SerialFormat, type SerialSignalOptions } from './options.js';
export { BACKOFF, SerialSignal, type SerialSignalDeps, type SerialSignalStatus, type SerialState } from './signal.js';
export { SIM_LINES_KEPT, SimSerialDevices, simSerialPath, type SimLine } from './sim-device.js';
