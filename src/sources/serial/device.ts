// The serial port as the reader sees it: open, data, loss, write, close. The real one is
// serialport-device.ts, opened through open-device.ts.

export interface DeviceHandlers {
  data(chunk: Buffer): void;
  /** The port is gone (unplugged, an I/O error): called at most once, never after close(). */
  lost(reason: Error): void;
}

export interface SerialDevice {
  readonly isOpen: boolean;
  /** Resolves once the bytes are written and drained to the device. */
  write(bytes: Buffer): Promise<void>;
  /** Closes the port (releasing its lock); resolves once closed, never rejects. */
  close(): Promise<void>;
}

export type OpenDevice = (options: { path: string; baudRate: number }, handlers: DeviceHandlers) => Promise<SerialDevice>;
