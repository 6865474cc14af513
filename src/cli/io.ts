// What a command needs from the outside world, injected so tests can run the CLI in-process.

export interface CliIo {
  cwd: string;
  out(text: string): void;
  err(text: string): void;
}

export const processIo = (): CliIo => ({
  cwd: process.cwd(),
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
});

/** Exit codes (docs/cli.md). */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export class UsageError extends Error {}

export function printJson(io: CliIo, value: unknown): void {
  io.out(JSON.stringify(value, null, 2));
}

/** A path as an operator wants to read it: relative to where they stand, when inside it. */
export function displayPath(io: CliIo, file: string): string {
  if (file.startsWith(`${io.cwd}/`)) return file.slice(io.cwd.length + 1);
  return file;
}

/** Left-aligned columns, two spaces apart. */
export function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 0, cell.length);
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n');
}
