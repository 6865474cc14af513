// The executors' public surface: one executor per built-in tool this stage runs.
// gpio_write and serial_write need their backends and come later;
// RUNNABLE_TOOLS lets the engine and validation tell which actions can run now.

import { createDelayExecutor } from './delay.js';
import { createHttpExecutor } from './http-request.js';
import { createLogExecutor } from './log.js';
import { createMqttPublishExecutor, type MqttPublisher } from './mqtt-publish.js';
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
  };
}

export { RUNNABLE_TOOLS } from './runnable.js';

