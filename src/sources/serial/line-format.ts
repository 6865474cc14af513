// What a serial line becomes: the event's topic and payload, or the reason it is dropped.
// Bytes that are not valid UTF-8 drop the whole line (`invalid_utf8`) rather than being
// replaced: a device at the wrong baud rate sends garbage, and garbage with U+FFFD in it
// must not reach conditions as if the device had said it.

import { isUtf8 } from 'node:buffer';
import type { SerialFormat } from './options.js';

export const DROP_REASONS = ['too_long', 'invalid_utf8', 'empty', 'not_kv', 'not_json'] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/** The line as text, or null when it is not valid UTF-8. */
export function decodeLine(bytes: Buffer): string | null {
  return isUtf8(bytes) ? bytes.toString('utf8') : null;
}

/** Keys of `kv` lines: they become the last level of a topic. */
const KV_KEY = /^[A-Za-z0-9_-]+$/;

export type LineFormatter = (text: string) => { topic: string; payload: string } | DropReason;

/** How the lines of one signal become events; built once per signal. */
export function lineFormatter(board: string, signal: string, format: SerialFormat): LineFormatter {
  const topic = `${board}/${signal}`;
  const prefix = `${board}/`;
  switch (format) {
    case 'line':
      return (text) => (text === '' ? 'empty' : { topic, payload: text });
    case 'kv':
      return (text) => {
        if (text === '') return 'empty';
        const eq = text.indexOf('=');
        const key = eq > 0 ? text.slice(0, eq) : '';
        return KV_KEY.test(key) ? { topic: prefix + key, payload: text.slice(eq + 1) } : 'not_kv';
      };
    case 'json':
      return (text) => {
        if (text === '') return 'empty';
        try {
          JSON.parse(text);
        } catch {
          return 'not_json';
        }
        return { topic, payload: text };
      };
  }
}
