// One run of a libgpiod tool as a child process. The line it holds is held for as long as
// the process lives, so no child may outlive the gateway: it is started through
// `setpriv --pdeathsig TERM`, which has the kernel end it when the gateway dies, even
// by SIGKILL, and ended on stop like any child.
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Clock } from '../../core/clock.js';
import { errorMessage } from '../../core/errors.js';
import type { WriteResult } from './backend.js';

/** After SIGTERM a tool has this long to go before SIGKILL. */
export const KILL_AFTER_MS = 2000;
const MAX_OUTPUT_LINE = 4096;

export interface ToolRunOptions {
  command: string;
  args: readonly string[];
  env: NodeJS.ProcessEnv;
  /** setpriv's path, or null to start the tool directly. */
  setpriv: string | null;
  /** When the tool holds its lines: it printed a line matching, or it has run settleMs without exiting. */
  ready: { line: RegExp } | { settleMs: number };
  onLine(line: string): void;
  clock: Clock;
}

export interface ToolExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** What went wrong, in a few words: the tool's last stderr line, or how it ended. */
  reason: string;
}

export class ToolRun {
  readonly ready: Promise<WriteResult>;
  readonly exited: Promise<ToolExit>;
  readonly pid: number | null;
  private readonly child: ReturnType<typeof spawn>;
  private done = false;
  private stderr = '';

  constructor(private readonly options: ToolRunOptions) {
    const { command, args, env, setpriv } = options;
    const child = setpriv === null
      ? spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(setpriv, ['--pdeathsig', 'TERM', '--', command, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.pid = child.pid ?? null;
    this.child = child;
    let markReady!: (result: WriteResult) => void;
    this.ready = new Promise((resolve) => (markReady = resolve));

    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      this.stderr = (this.stderr + text).slice(-MAX_OUTPUT_LINE);
    });
    const lines = createInterface({ input: child.stdout, crlfDelay: Infinity });
    lines.on('line', (line) => {
      if (line.length > MAX_OUTPUT_LINE) return;
      if ('line' in options.ready && options.ready.line.test(line)) markReady({ ok: true });
      else options.onLine(line);
    });
    let settle: { cancel(): void } | null = null;
    child.once('spawn', () => {
      if ('settleMs' in options.ready) settle = options.clock.setTimer(options.ready.settleMs, () => markReady({ ok: true }));
    });

    this.exited = new Promise((resolve) => {
      let spawnError: Error | null = null;
      child.once('error', (err) => (spawnError = err));
      // 'close' comes after stdout and stderr are read to the end: the last words are in.
      child.once('close', (code, signal) => {
        this.done = true;
        settle?.cancel();
        // 127: setpriv could not find the tool.
        const reason = spawnError !== null
          ? spawnFailure(command, spawnError)
          : code === 127
            ? notInstalled(command)
            : lastLine(this.stderr) ?? (signal !== null ? `ended by ${signal}` : `exited with code ${code}`);
        markReady({ ok: false, error: reason });
        resolve({ code, signal, reason });
      });
    });
  }

  get running(): boolean {
    return !this.done;
  }

  /** SIGTERM, then SIGKILL if it lingers; resolves once it has exited. */
  async kill(): Promise<void> {
    if (this.done) return;
    this.child.kill('SIGTERM');
    const force = this.options.clock.setTimer(KILL_AFTER_MS, () => this.child.kill('SIGKILL'));
    await this.exited;
    force.cancel();
  }
}

function spawnFailure(command: string, err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' ? notInstalled(command) : errorMessage(err);
}

export function notInstalled(command: string): string {
  return `${command} not found: install the "gpiod" package (apt install gpiod)`;
}

function lastLine(text: string): string | null {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  return lines.at(-1) ?? null;
}

/** The path of an executable on PATH, or null. */
export function findOnPath(name: string, path: string | undefined): string | null {
  for (const dir of (path ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}
