// `sopgate daemon`: runs the gateway until SIGTERM or SIGINT; SIGHUP reloads the SOPs.
import { execFile } from 'node:child_process';
import { loadConfig } from '../config/config.js';
import { createLogger, type Logger } from '../log.js';
import { EXIT, type CliIo } from './io.js';
import type { GlobalOptions } from './workspace.js';

export async function daemonCommand(io: CliIo, options: GlobalOptions): Promise<number> {
  const result = await loadConfig(options.config, io.cwd);
  if (!result.ok) {
    for (const f of result.errors) io.err(`${f.file}${f.line === null ? '' : `:${f.line}`}: error: ${f.message}`);
    io.err('sopgate: the configuration has errors; the daemon did not start');
    return EXIT.failed;
  }
  const config = options['sops-dir'] === undefined ? result.config : { ...result.config, sops_dir: options['sops-dir'] };
  const logger = createLogger({ level: process.env.SOPGATE_LOG_LEVEL === 'debug' ? 'debug' : 'info' });
  for (const f of result.warnings) logger.log('warn', `${f.file}${f.line === null ? '' : `:${f.line}`}: ${f.message}`);
  // Loaded on demand: the definition commands must work without the native SQLite module.
  const { Daemon } = await import('../daemon.js');
  const daemon = new Daemon({ config, logger });
  try {
    await daemon.start();
  } catch (err) {
    logger.log('error', `cannot start: ${err instanceof Error ? err.message : String(err)}`);
    await daemon.stop();
    return EXIT.failed;
  }
  notify(logger, ['--ready', '--status=sopgate running']);
  const watchdog = watchdogTimer(logger);

  return new Promise<number>((resolve) => {
    const shutdown = (signal: string) => {
      logger.log('info', `${signal}: shutting down`);
      notify(logger, ['--stopping']);
      clearInterval(watchdog);
      process.off('SIGHUP', onHup);
      daemon.stop().then(
        () => resolve(EXIT.ok),
        () => resolve(EXIT.failed),
      );
    };
    const onHup = () => void daemon.reload();
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
    process.on('SIGHUP', onHup);
  });
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
