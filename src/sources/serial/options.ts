// One serial signal of a board profile: where the device is and how its lines read.
// The board-profile parser produces these; `resolveSerialSignal` applies the defaults
// and checks the values once, so the reader never meets a nonsense setting.

export const SERIAL_FORMATS = ['line', 'kv', 'json'] as const;
export type SerialFormat = (typeof SERIAL_FORMATS)[number];

export interface SerialSignalOptions {
  board: string;
  signal: string;
  /** The device: prefer `/dev/serial0` or `/dev/serial/by-id/*`, which survive re-enumeration. */
  path: string;
  /** Default 9600. */
  baud?: number;
  format: SerialFormat;
  /** What ends a line; default "\n" (a "\r" just before it is dropped too). */
  delimiter?: string;
  /** Longest line kept, in bytes, without its delimiter; default 4096. */
  maxLineBytes?: number;
}

export type ResolvedSerialSignal = Required<SerialSignalOptions>;

export const SERIAL_DEFAULTS = { baud: 9600, delimiter: '\n', maxLineBytes: 4096 } as const;

/** The options with defaults applied, or every problem found. */
export function resolveSerialSignal(options: SerialSignalOptions): { ok: true; value: ResolvedSerialSignal } | { ok: false; problems: string[] } {
  const value: ResolvedSerialSignal = {
    board: options.board,
    signal: options.signal,
    path: options.path,
    format: options.format,
    baud: options.baud ?? SERIAL_DEFAULTS.baud,
    delimiter: options.delimiter ?? SERIAL_DEFAULTS.delimiter,
    maxLineBytes: options.maxLineBytes ?? SERIAL_DEFAULTS.maxLineBytes,
  };
  const problems: string[] = [];
  const name = `${value.board}/${value.signal}`;
  if (value.board === '' || value.signal === '' || name.split('/').length !== 2) problems.push(`"${name}": board and signal must be non-empty names without "/"`);
  if (value.path === '') problems.push(`${name}: path must not be empty`);
  if (!SERIAL_FORMATS.includes(value.format)) problems.push(`${name}: format must be one of ${SERIAL_FORMATS.join(', ')}`);
  if (!Number.isInteger(value.baud) || value.baud <= 0) problems.push(`${name}: baud must be a positive integer`);
  if (value.delimiter === '') problems.push(`${name}: delimiter must not be empty`);
  if (!Number.isInteger(value.maxLineBytes) || value.maxLineBytes <= 0) problems.push(`${name}: max_line_bytes must be a positive integer`);
  return problems.length === 0 ? { ok: true, value: Object.freeze(value) } : { ok: false, problems };
}
