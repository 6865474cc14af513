// `sopgate sim <board>/<signal> [value]`: plays the hardware of a sim board through the
// daemon's API. With a value it sets a gpio_in (1 or 0) or sends a serial signal's device
// lines; without one it reads the signal: its level (or the device's last line) and what
// the gateway wrote to it.
import { apiClient, errorText } from './client.js';
import { EXIT, printJson, UsageError, type CliIo } from './io.js';
import type { GlobalOptions } from './workspace.js';

interface SimReading {
  board: string;
  signal: string;
  type: string;
  value: number | string | null;
  writes: { value: number | string; at: string }[];
}

export async function simCommand(io: CliIo, ref: string | undefined, value: string | undefined, options: GlobalOptions & { json?: boolean | undefined }): Promise<number> {
  const slash = ref?.indexOf('/') ?? -1;
  if (ref === undefined || slash <= 0 || slash === ref.length - 1) {
    throw new UsageError('sim needs a signal written <board>/<signal>: sopgate sim <board>/<signal> [value]');
  }
  const path = `/api/sim/${encodeURIComponent(ref.slice(0, slash))}/${encodeURIComponent(ref.slice(slash + 1))}`;
  const api = await apiClient(io, options);
  const answer = value === undefined ? await api.request('GET', path) : await api.request('POST', path, value);
  if (answer.status !== 200) {
    io.err(`sopgate: ${errorText(answer)}`);
    return EXIT.failed;
  }
  if (options.json) {
    printJson(io, answer.body);
    return EXIT.ok;
  }
  const r = answer.body as SimReading;
  const lines = [`${r.board}/${r.signal} (${r.type}): ${show(r.value)}`];
  for (const w of r.writes) lines.push(`  wrote ${show(w.value)} at ${w.at}`);
  io.out(lines.join('\n'));
  return EXIT.ok;
}

/** Levels as they are; lines quoted, so that an empty or odd one is seen as such. */
function show(value: number | string | null): string {
  if (value === null) return '-';
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}
