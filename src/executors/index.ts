// The executors' public surface: one executor per built-in tool. gpio_write and
// serial_write reach the board profiles' signals through lookups the gateway hands in;
// RUNNABLE_TOOLS lets validation tell which actions this gateway can run.

import { createDelayExecutor } from './delay.js';
import { createGpioWriteExecutor, type GpioLookup } from './gpio-write.js';
import { createHttpExecutor } from './http-request.js';
import { createLogExecutor } from './log.js';
import { createMqttPublishExecutor, type MqttPublisher } from './mqtt-publish.js';
import { createSerialWriteExecutor, type SerialLookup } from './serial-write.js';
import { createShellExecutor } from './shell.js';
import type { ExecutorDeps, Executors } from './types.js';

export interface ExecutorOptions {
  /** Cap on captured shell output and HTTP response bodies. Default 64 KiB. */
  maxOutputBytes?: number;
  /** Shell steps without `timeout_secs`. Default 60. */
  shellTimeoutSecs?: number;
  /** Default `/bin/sh`. */
  shell?: string;
  /** Publishes through the embedded broker; without it mqtt_publish steps fail. */
  mqttPublish?: MqttPublisher;
  /** The board profiles' gpio_out signals by "<board>/<signal>"; without it gpio_write steps fail. */
  gpio?: GpioLookup;
  /** The board profiles' serial signals by "<board>/<signal>"; without it serial_write steps fail. */
  serial?: SerialLookup;
}

export function createExecutors(deps: ExecutorDeps, options: ExecutorOptions = {}): Executors {
  const cap = options.maxOutputBytes === undefined ? {} : { maxOutputBytes: options.maxOutputBytes };
  return {
    shell: createShellExecutor(deps, {
      ...cap,
      ...(options.shellTimeoutSecs === undefined ? {} : { defaultTimeoutSecs: options.shellTimeoutSecs }),
      ...(options.shell === undefined ? {} : { shell: options.shell }),
    }),
    http_request: createHttpExecutor(deps, cap),
    delay: createDelayExecutor(deps),
    log: createLogExecutor(deps),
    mqtt_publish: createMqttPublishExecutor(
      options.mqttPublish ?? (() => Promise.reject(new Error('the embedded broker is disabled ([mqtt] listen = "")'))),
    ),
    gpio_write: createGpioWriteExecutor(options.gpio ?? (() => undefined)),
    serial_write: createSerialWriteExecutor(options.serial ?? (() => undefined)),
  };
}

export { RUNNABLE_TOOLS } from './runnable.js';
export type { GpioLookup, GpioOutputHandle } from './gpio-write.js';
export type { SerialLookup, SerialPortHandle } from './serial-write.js';

