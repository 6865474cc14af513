// Reads a small text file that someone else wrote (a SOP file, the config) without
// trusting it: only a regular file is read (a FIFO would block the reader forever, a
// device such as /dev/zero never ends), at most `maxBytes` of it, and it must be UTF-8.
// A symbolic link to a regular file is followed. Every refusal is a message, never an
// exception.
import { closeSync, constants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';

export type TextFile =
  | { ok: true; text: string }
  /** The file does not exist. */
  | { ok: false; missing: true }
  /** `line` points at the first byte that is not UTF-8. */
  | { ok: false; missing: false; message: string; line: number | null };

export interface ReadLimit {
  maxBytes: number;
  /** Where the limit is set, for messages: "[sops] max_file_bytes". */
  setting: string;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function readTextFile(file: string, limit: ReadLimit): TextFile {
  let fd: number;
  try {
    // Looked at before it is opened: opening a device may act on it (a serial line, a tape).
    const before = statSync(file);
    if (!before.isFile()) return refused(`is ${fileType(before)}, not a regular file`);
    // O_NONBLOCK: should the path have become a FIFO meanwhile, open does not wait for a writer.
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { ok: false, missing: true };
    return refused(reason(err));
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) return refused(`is ${fileType(stats)}, not a regular file`);
    const bytes = readAtMost(fd, limit.maxBytes + 1, stats.size);
    if (bytes.length > limit.maxBytes) {
      return refused(`larger than ${limit.maxBytes} bytes (the limit is ${limit.setting})`);
    }
    return decode(bytes);
  } catch (err) {
    return refused(reason(err));
  } finally {
    closeSync(fd);
  }
}

/** UTF-8 text, or where the first byte that is not UTF-8 stands. */
export function decode(bytes: Uint8Array): TextFile {
  try {
    return { ok: true, text: utf8.decode(bytes) };
  } catch {
    const at = firstInvalidUtf8(bytes);
    let line = 1;
    for (let i = 0; i < at; i++) if (bytes[i] === 0x0a) line++;
    const shown = (bytes[at] ?? 0).toString(16).padStart(2, '0');
    return { ok: false, missing: false, message: `not valid UTF-8 (byte 0x${shown} on line ${line})`, line };
  }
}

/** Reads until end of file or `cap` bytes; `size` is only a hint (files under /proc say 0). */
function readAtMost(fd: number, cap: number, size: number): Buffer {
  let buffer = Buffer.allocUnsafe(Math.min(cap, Math.max(size + 1, 4096)));
  let length = 0;
  for (;;) {
    if (length === buffer.length) {
      if (length >= cap) break;
      const bigger = Buffer.allocUnsafe(Math.min(cap, buffer.length * 2));
      buffer.copy(bigger, 0, 0, length);
      buffer = bigger;
    }
    const n = readSync(fd, buffer, length, buffer.length - length, null);
    if (n === 0) break;
    length += n;
  }
  return buffer.subarray(0, length);
}

/** Index of the first byte that does not begin or continue a well-formed UTF-8 sequence. */
export function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i]!;
    let need: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (c < 0x80) need = 0;
    else if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      if (c === 0xe0) lo = 0xa0; // no overlong forms
      if (c === 0xed) hi = 0x9f; // no surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      if (c === 0xf0) lo = 0x90;
      if (c === 0xf4) hi = 0x8f; // nothing above U+10FFFF
    } else return i;
    for (let k = 1; k <= need; k++) {
      const next = b[i + k];
      const [min, max] = k === 1 ? [lo, hi] : [0x80, 0xbf];
      if (next === undefined || next < min || next > max) return i;
    }
    i += need + 1;
  }
  return b.length;
}

function refused(message: string): TextFile {
  return { ok: false, missing: false, message, line: null };
}

function fileType(stats: Stats): string {
  if (stats.isDirectory()) return 'a folder';
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSocket()) return 'a socket';
  return 'something else';
}

function reason(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'EACCES') return 'permission denied';
  if (e.code === 'ENOTDIR') return 'not a folder';
  if (e.code === 'ELOOP') return 'a loop of symbolic links';
  return e.message ?? String(err);
}
