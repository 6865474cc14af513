let lastMs = Number.NaN;
let lastText = '';

/**
 * ISO-8601 text of a time in milliseconds. Formatting is cached for the last millisecond
 * asked: a busy gateway stamps many events and ledger rows within each one.
 */
export function isoTime(ms: number): string {
  if (ms !== lastMs) {
    lastMs = ms;
    lastText = new Date(ms).toISOString();
  }
  return lastText;
}
