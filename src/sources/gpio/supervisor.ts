// Keeps one tool process alive for a group of lines: a gpiomon watching a chip's inputs or
// a gpioset holding an output. A tool that exits on its own is started again after a
// back-off (1 s doubling to 30 s; back to 1 s once a run has lasted 30 s), so an unplugged
// HAT or a line another program holds costs a log line now and then, not a busy loop.
import type { Clock, TimerHandle } from '../../core/clock.js';
import { errorMessage } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { reportAll, type BackendSink, type WriteResult } from './backend.js';
import type { ToolRun } from './tool-process.js';

export const FIRST_RETRY_MS = 1000;
export const MAX_RETRY_MS = 30_000;

export interface SupervisorOptions {
  /** For log lines: "gpiomon gpiochip0 (test_button, door)". */
  what: string;
  signals: readonly string[];
  launch(args: readonly string[]): ToolRun;
  sink: BackendSink;
  logger: Logger;
  clock: Clock;
}

export class Supervisor {
  private current: ToolRun | null = null;
  private args: readonly string[] = [];
  private retryMs = FIRST_RETRY_MS;
  private retry: TimerHandle | null = null;
  private upSince: number | null = null;
  private stopped = false;

  constructor(private readonly options: SupervisorOptions) {}

  /**
   * Ends the current run, if any, and starts one with `args` at once (no back-off: this
   * is a change asked for, such as a new output level). Resolves when the tool holds its
   * lines or has failed to.
   */
  async run(args: readonly string[]): Promise<WriteResult> {
    this.args = args;
    this.retry?.cancel();
    this.retry = null;
    const previous = this.current;
    this.current = null;
    await previous?.kill();
    if (this.stopped) return { ok: false, error: 'stopped' };
    return this.launch().ready;
  }


  async stop(): Promise<void> {
    this.stopped = true;
    this.retry?.cancel();
    this.retry = null;
    const run = this.current;
    this.current = null;
    await run?.kill();
  }

  private launch(): { ready: Promise<WriteResult> } {
    const { sink, signals, clock, logger, what } = this.options;
    reportAll(sink, signals, 'starting', null);
    let run: ToolRun;
    try {
      run = this.options.launch(this.args);
    } catch (err) {
      // spawn() itself refused (a bad environment, no process slots): no retry can help.
      const error = `${what}: ${errorMessage(err)}`;
      reportAll(sink, signals, 'down', error);
      return { ready: Promise.resolve({ ok: false, error }) };
    }
    this.current = run;
    void run.ready.then((result) => {
      if (this.current !== run || !result.ok) return;
      this.upSince = clock.now();
      reportAll(sink, signals, 'up', null);
    });
    void run.exited.then((exit) => {
      if (this.current !== run) return; // ended on purpose
      this.current = null;
      if (this.upSince !== null && clock.now() - this.upSince >= MAX_RETRY_MS) this.retryMs = FIRST_RETRY_MS;
      this.upSince = null;
      reportAll(sink, signals, 'down', exit.reason);
      const delay = this.retryMs;
      this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
      logger.log('warn', `${what}: ${exit.reason}; starting it again in ${delay / 1000} s`);
      this.retry = clock.setTimer(delay, () => {
        this.retry = null;
        if (!this.stopped) this.launch();
      });
    });
    return run;
  }
}
