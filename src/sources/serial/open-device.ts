// Opens the real serial port. serialport-device.ts loads serialport and its native
// binding, so it is imported only when the first serial port opens: a gateway without
// serial signals never loads the binding's .node file.
import type { OpenDevice } from './device.js';

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
