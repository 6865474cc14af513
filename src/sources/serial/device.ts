// The serial port as the reader sees it: open, data, loss, write, close. The real one
// (serialport-device.ts) loads serialport and its native binding, so it is imported
// only when the first serial port opens: a gateway without serial signals never loads
// the binding's .node file.

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

let driver: Promise<OpenDevice> | undefined;

/** Opens a port through serialport, loading it on first use; rejects with a readable reason. */
export const openSerialPort: OpenDevice = async (options, handlers) => {
  driver ??= import('./serialport-device.js').then(
    (m) => m.openSerialPort,
    (err: unknown) => {
      throw new Error(`the serial driver (serialport, @serialport/bindings-cpp) cannot be loaded: ${err instanceof Error ? err.message : String(err)}`);
    },
  );
  return (await driver)(options, handlers);
};
