// The only file that imports serialport (its stream, bundled, and @serialport/bindings-cpp,
// which loads a .node file): open-device.ts imports it on the first open.
//
// One reach into the binding's internals, here only: on Linux a hung-up tty (the device
// unplugged, the pty's other end closed) reads as end of file, and the binding's reader
// (dist/unix-read) retries a read of 0 bytes at once, forever: a core spins and the port
// never reports `close`. unixRead takes the read function as an option; ours turns 0 bytes
// into an I/O error, which the stream reports as a disconnect. A non-blocking tty in raw
// mode (VMIN 1, VTIME 0) with nothing to read says EAGAIN, so 0 bytes means a hang-up only.
// The dependency is pinned to the exact version this was checked against.

import { autoDetect, type BindingInterface } from '@serialport/bindings-cpp';
import { unixRead } from '@serialport/bindings-cpp/dist/unix-read.js';
import { SerialPortStream } from '@serialport/stream';
import { read } from 'node:fs';
import { promisify } from 'node:util';
import type { DeviceHandlers, SerialDevice } from './device.js';

const readAsync = promisify(read);

async function readOrHangUp(...args: Parameters<typeof readAsync>): ReturnType<typeof readAsync> {
  const result = await readAsync(...args);
  if (result.bytesRead === 0) throw Object.assign(new Error('the device hung up'), { code: 'EIO' });
  return result;
}

function hangUpAware(binding: BindingInterface): BindingInterface {
  if (process.platform === 'win32') return binding;
  return {
    ...binding,
    async open(options) {
      const port = await binding.open(options);
      const unix = port as Parameters<typeof unixRead>[0]['binding'];
      port.read = async (buffer: Buffer, offset: number, length: number) => {
        if (!port.isOpen) throw new Error('Port is not open');
        return unixRead({ binding: unix, buffer, offset, length, fsReadAsync: readOrHangUp });
      };
      return port;
    },
  };
}

const binding = hangUpAware(autoDetect());

export function openSerialPort(options: { path: string; baudRate: number }, handlers: DeviceHandlers): Promise<SerialDevice> {
  const port = new SerialPortStream({ binding, path: options.path, baudRate: options.baudRate, autoOpen: false });
  let live = false;
  const lose = (reason: Error): void => {
    if (!live) return;
    live = false;
    handlers.lost(reason);
  };
  // An `error` event without a listener would crash the process: there is always one.
  port.on('error', (err: Error) => lose(err));
  const onClose = (err: Error | null): void => lose(err ?? new Error('the port closed'));

  const device: SerialDevice = {
    get isOpen() {
      return live && port.isOpen;
    },
    write: (bytes) =>
      new Promise<void>((resolve, reject) => {
        port.write(bytes, (err) => {
          if (err) reject(err);
        });
        port.drain((err) => (err ? reject(err) : resolve()));
      }),
    close: () =>
      new Promise<void>((resolve) => {
        live = false;
        port.off('data', handlers.data);
        port.off('close', onClose);
        if (!port.isOpen) return resolve();
        port.close(() => resolve());
      }),
  };

  return new Promise((resolve, reject) => {
    port.open((err) => {
      if (err) return reject(err);
      live = true;
      port.on('data', handlers.data);
      port.on('close', onClose);
      resolve(device);
    });
  });
}
