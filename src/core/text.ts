// Untrusted text (payloads, step outputs) kept to a bound where it is shown in bulk: list
// answers, a run's reason, log lines. Bounds count bytes of UTF-8, as stored, and a cut
// never splits a character.

/** The longest character in UTF-8. */
export const MAX_CHAR_BYTES = 4;

/** The first `max` bytes of `text` (fewer, to end on a character), and whether anything was left out. */
export function cutText(text: string, max: number): { text: string; cut: boolean } {
  // Every UTF-16 unit is at least one byte of UTF-8: the first max + 1 units hold the first max + 1 bytes.
  const head = Buffer.from(text.slice(0, max + 1));
  if (head.length <= max) return { text, cut: false };
  return { text: decodePrefix(head.subarray(0, max)), cut: true };
}

/** Leading bytes of UTF-8 as text, without a last character that was cut short. */
export function decodePrefix(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, utf8Boundary(bytes)).toString('utf8');
}

/** The length of `bytes` without a trailing incomplete UTF-8 sequence. */
export function utf8Boundary(bytes: Uint8Array): number {
  let start = bytes.length - 1;
  // Back over at most 3 continuation bytes (bit pattern 10 in the top two bits) to the lead byte.
  while (start >= 0 && bytes.length - start <= 4 && ((bytes[start] ?? 0) & 0xc0) === 0x80) start--;
  if (start < 0) return bytes.length;
  const lead = bytes[start] ?? 0;
  const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return bytes.length - start < need ? start : bytes.length;
}

/** `text` cut to `max` bytes with a marker saying how long it was, or `text` as it is. */
export function excerpt(text: string, max: number): string {
  const head = cutText(text, max);
  return head.cut ? `${head.text}… [cut, ${Buffer.byteLength(text)} bytes in all]` : text;
}

/**
 * Control characters (C0, DEL, C1) as visible escapes: a newline would split a journal
 * entry, and escape sequences would drive the terminal of whoever reads the log.
 */
export function escapeControls(text: string): string {
  return text.replace(CONTROLS, (c) => NAMED[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
