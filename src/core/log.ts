// Logs go to stdout for journald, never to files on the SD card: one line per event, a
// level and a component; journald adds the time. The logger is handed in, never imported
// as a global.
import { escapeControls } from './text.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  log(level: LogLevel, message: string): void;
  /** Whether `log` at this level writes anything: a hot path skips building a line nobody reads. */
  enabled(level: LogLevel): boolean;
  child(component: string): Logger;
}

export function createLogger(
  options: { level?: LogLevel; write?: (line: string) => void; component?: string } = {},
): Logger {
  const min = ORDER[options.level ?? 'info'];
  const write = options.write ?? stdoutLines();
  const make = (component: string): Logger => ({
    log(level, message) {
      if (ORDER[level] < min) return;
      // One line per event, and nothing that drives a terminal: messages carry untrusted text.
      write(`${level} [${component}] ${escapeControls(message)}`);
    },
    enabled: (level) => ORDER[level] >= min,
    child: (name) => make(name),
  });
  return make(options.component ?? 'sopgate');
}

/**
 * Lines logged in one turn of the event loop, written to `sink` in one piece when the turn
 * ends: a busy gateway logs a line per run, and a write(2) per line was a visible share of
 * its CPU. `flush` writes what is pending at once.
 */
export function batchedLines(sink: (text: string) => void, schedule: (fn: () => void) => void = setImmediate): ((line: string) => void) & { flush(): void } {
  let pending = '';
  const flush = () => {
    if (pending === '') return;
    const text = pending;
    pending = '';
    sink(text);
  };
  return Object.assign(
    (line: string) => {
      if (pending === '') schedule(flush);
      pending += `${line}\n`;
    },
    { flush },
  );
}

let stdout: ((line: string) => void) | undefined;

/** The daemon's stdout, batched per turn; whatever is pending still goes out when the process exits. */
function stdoutLines(): (line: string) => void {
  if (stdout === undefined) {
    const lines = batchedLines((text) => void process.stdout.write(text));
    process.on('exit', lines.flush);
    stdout = lines;
  }
  return stdout;
}
