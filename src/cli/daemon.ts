// `sopgate daemon`: runs the gateway until SIGTERM or SIGINT; SIGHUP reloads the SOPs.
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { loadConfig } from '../config/config.js';
import { createLogger, type Logger } from '../core/log.js';
import { EXIT, type CliIo } from './io.js';
import type { GlobalOptions } from './workspace.js';
import { errorMessage } from '../core/errors.js';

export async function daemonCommand(io: CliIo, options: GlobalOptions): Promise<number> {
  const result = await loadConfig(options.config, io.cwd);
  if (!result.ok) {
    for (const f of result.errors) io.err(`${f.file}${f.line === null ? '' : `:${f.line}`}: error: ${f.message}`);
    io.err('sopgate: the configuration has errors; the daemon did not start');
    return EXIT.failed;
  }
  const config = options['sops-dir'] === undefined ? result.config : { ...result.config, sops_dir: resolve(io.cwd, options['sops-dir']) };
  const logger = createLogger({ level: process.env.SOPGATE_LOG_LEVEL === 'debug' ? 'debug' : 'info' });
  for (const f of result.warnings) logger.log('warn', `${f.file}${f.line === null ? '' : `:${f.line}`}: ${f.message}`);
  // Loaded on demand: the definition commands must work without the native SQLite module.
  const { Gateway } = await import('../gateway/gateway.js');
  const daemon = new Gateway({ config, logger });
  const log = logger.child('daemon');

  // Signals are handled from before start-up: a SIGTERM or SIGHUP that arrives while the
  // daemon starts must not take Node's default action (ending the process uncleanly).
  let starting = true;
  let stopRequested: string | null = null;
  let finish: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => (finish = resolve));
  const shutdown = (signal: string): void => {
    if (starting) {
      stopRequested ??= signal;
      return;
    }
    process.off('SIGTERM', onTerm).off('SIGINT', onInt).off('SIGHUP', onHup);
    log.log('info', `${signal}: shutting down`);
    notify(logger, ['--stopping']);
    clearInterval(watchdog);
    daemon.stop().then(
      () => finish(EXIT.ok),
      () => finish(EXIT.failed),
    );
  };
  const onTerm = () => shutdown('SIGTERM');
  const onInt = () => shutdown('SIGINT');
  const onHup = () => {
    if (!starting) void daemon.reload();
  };
  process.on('SIGTERM', onTerm).on('SIGINT', onInt).on('SIGHUP', onHup);

  let watchdog: NodeJS.Timeout | undefined;
  try {
    await daemon.start();
  } catch (err) {
    process.off('SIGTERM', onTerm).off('SIGINT', onInt).off('SIGHUP', onHup);
    log.log('error', `cannot start: ${errorMessage(err)}`);
    await daemon.stop();
    return EXIT.failed;
  }
  starting = false;
  notify(logger, ['--ready', '--status=sopgate running']);
  watchdog = watchdogTimer(logger);
  if (stopRequested !== null) shutdown(stopRequested);
  return done;
}

/** sd_notify without a native module: systemd-notify, allowed by NotifyAccess=all. */
function notify(logger: Logger, args: string[]): void {
  if (process.env.NOTIFY_SOCKET === undefined) return;
  execFile('systemd-notify', args, (err) => {
    if (err !== null) logger.log('warn', `systemd-notify ${args.join(' ')}: ${err.message}`);
  });
}

function watchdogTimer(logger: Logger): NodeJS.Timeout | undefined {
  const usec = Number(process.env.WATCHDOG_USEC);
  if (!Number.isFinite(usec) || usec <= 0) return undefined;
  const timer = setInterval(() => notify(logger, ['WATCHDOG=1']), Math.max(1000, usec / 2000));
  timer.unref();
  return timer;
}
