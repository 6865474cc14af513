// The sysfs backend, for kernels older than libgpiod's character device or boards without
// the gpiod tools: the `onoff` package (an optional dependency with a native part, epoll).
// It is loaded only when a profile asks for it, and this file is the only one that knows
// its API. The kernel cannot set a bias through sysfs; that is left to the boot config.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Level } from '../../config/board-profile.js';
import { errorMessage } from '../../core/errors.js';
import { reportAll, type BackendContext, type BackendLines, type GpioBackend, type WriteResult } from './backend.js';
import { resolveSysfsLine, SYSFS_ROOT } from './sysfs-lines.js';

/** What sopgate uses of onoff's Gpio (declared here: onoff may be absent where this compiles). */
export interface OnoffGpio {
  readSync(): number;
  write(value: number): Promise<void>;
  watch(callback: (err: Error | null | undefined, value: number) => void): void;
  unwatchAll(): void;
  unexport(): void;
}
export interface OnoffModule {
  Gpio: new (gpio: number, direction: 'in' | 'high' | 'low', edge?: 'both') => OnoffGpio;
}

export interface SysfsOptions {
  /** Where the GPIO sysfs lives; onoff itself always uses /sys/class/gpio. */
  root?: string;
  /** Loads onoff (tests hand in a failing loader). */
  load?: () => OnoffModule;
}

function loadOnoff(): OnoffModule {
  return createRequire(import.meta.url)('onoff') as OnoffModule;
}

export class SysfsBackend implements GpioBackend {
  readonly name = 'sysfs';
  private readonly gpios = new Map<string, OnoffGpio>();
  private readonly root: string;

  constructor(
    private readonly lines: BackendLines,
    private readonly ctx: BackendContext,
    private readonly options: SysfsOptions = {},
  ) {
    this.root = options.root ?? SYSFS_ROOT;
  }

  async start(): Promise<void> {
    const { sink, logger } = this.ctx;
    const board = this.lines.board;
    const all = [...this.lines.inputs, ...this.lines.outputs].map((l) => l.signal);
    if (all.length === 0) return;
    reportAll(sink, all, 'starting', null);
    const failed = (error: string) => {
      logger.log('error', `board ${board}: ${error}; its GPIO signals are down`);
      reportAll(sink, all, 'down', error);
    };
    if (!existsSync(join(this.root, 'export'))) {
      return failed(`${this.root} is absent: this kernel has no GPIO sysfs interface; use gpio = "gpiod"`);
    }
    let onoff: OnoffModule;
    try {
      onoff = (this.options.load ?? loadOnoff)();
    } catch (err) {
      return failed(`the onoff package is not installed or its native part (epoll) is not built: ${errorMessage(err).split('\n')[0]} (reinstall with python3, make and g++ present)`);
    }

    const open = (signal: string, line: Parameters<typeof resolveSysfsLine>[2], make: (n: number) => OnoffGpio): OnoffGpio | null => {
      const number = resolveSysfsLine(this.root, this.lines.chip, line);
      if (!number.ok) {
        logger.log('error', `board ${board}: ${signal}: ${number.error}`);
        sink.state(signal, 'down', number.error);
        return null;
      }
      try {
        const gpio = make(number.number);
        this.gpios.set(signal, gpio);
        return gpio;
      } catch (err) {
        const error = `sysfs GPIO ${number.number}: ${errorMessage(err)}`;
        logger.log('error', `board ${board}: ${signal}: ${error}`);
        sink.state(signal, 'down', error);
        return null;
      }
    };

    for (const input of this.lines.inputs) {
      if (input.bias !== 'as-is') logger.log('warn', `board ${board}: ${input.signal}: sysfs cannot set bias = "${input.bias}"; set it in the boot config (e.g. gpio=17=pu in config.txt)`);
      let initial = 0;
      const gpio = open(input.signal, input.line, (n) => {
        const made = new onoff.Gpio(n, 'in', 'both');
        try {
          initial = made.readSync();
          made.watch((err, value) => {
            if (err) sink.state(input.signal, 'down', errorMessage(err));
            else sink.edge(input.signal, value === 1 ? 1 : 0);
          });
        } catch (err) {
          made.unexport();
          throw err;
        }
        return made;
      });
      if (gpio === null) continue;
      sink.level(input.signal, initial === 1 ? 1 : 0);
      sink.state(input.signal, 'up', null);
    }
    for (const output of this.lines.outputs) {
      // 'high' / 'low' set the direction and the level in one write: no glitch to the other level.
      const gpio = open(output.signal, output.line, (n) => new onoff.Gpio(n, output.level === 1 ? 'high' : 'low'));
      if (gpio !== null) sink.state(output.signal, 'up', null);
    }
  }

  async stop(): Promise<void> {
    for (const [signal, gpio] of this.gpios) {
      try {
        gpio.unwatchAll();
        gpio.unexport();
      } catch (err) {
        this.ctx.logger.log('warn', `board ${this.lines.board}: ${signal}: releasing the line failed: ${errorMessage(err)}`);
      }
    }
    this.gpios.clear();
  }

  async write(signal: string, level: Level): Promise<WriteResult> {
    const gpio = this.gpios.get(signal);
    if (gpio === undefined || !this.lines.outputs.some((o) => o.signal === signal)) {
      return { ok: false, error: `"${signal}" is not a gpio_out of board "${this.lines.board}" that is up` };
    }
    try {
      await gpio.write(level);
      return { ok: true };
    } catch (err) {
      return { ok: false, error: `sysfs write failed: ${errorMessage(err)}` };
    }
  }
}
