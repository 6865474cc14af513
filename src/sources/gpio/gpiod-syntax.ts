// The command lines of libgpiod's tools and what they print, for the two generations in
// the field: 1.6 (Debian 12) and 2.x (Debian 13, Raspberry Pi OS Trixie). They differ in
// almost everything: v1 takes a chip and offsets and finds names with gpiofind, prints
// edges as 1/0 and must be told to line-buffer (-b) and to hold an output
// (--mode=signal); v2 takes names directly, prints edges as 1/2, reads -b as the bias and
// holds outputs until killed.
import type { Bias, Level, LineRef } from '../../config/board-profile.js';

export type GpiodMajor = 1 | 2;

/** "gpiomon (libgpiod) v1.6.3" → 1; null when the text is not a libgpiod version. */
export function parseGpiodVersion(text: string): { major: GpiodMajor; version: string } | null {
  const m = /\(libgpiod\) v(\d+)\.(\d+)(\S*)/.exec(text);
  if (m === null) return null;
  const major = Number(m[1]);
  if (major !== 1 && major !== 2) return null;
  return { major, version: `${m[1]}.${m[2]}${m[3]}` };
}

/** Lines one gpiomon watches: v1 lines are offsets on `chip` (names found with gpiofind first). */
export interface MonitorGroup {
  chip: string | null;
  bias: Bias;
  lines: readonly { signal: string; line: LineRef }[];
}

/** What the consumer column of `gpioinfo` shows for lines we hold (v2 only; v1 has no option). */
export const CONSUMER = 'sopgate';

// Both edges always: debounce needs the level after every change, and `edge` is applied
// to the debounced logical value above the backend.
const V1_FORMAT = '%o %e %s %n';
const V2_FORMAT = '%o %e %S %l';

export function monitorArgs(major: GpiodMajor, group: MonitorGroup): string[] {
  const lines = group.lines.map((l) => String(l.line));
  if (major === 1) {
    if (group.chip === null) throw new Error('libgpiod 1.x needs a chip for gpiomon');
    const bias = group.bias === 'as-is' ? [] : ['-B', group.bias === 'disabled' ? 'disable' : group.bias];
    return ['-b', '-F', V1_FORMAT, ...bias, group.chip, ...lines];
  }
  const bias = group.bias === 'as-is' ? [] : ['-b', group.bias];
  const chip = group.chip === null ? [] : ['-c', group.chip];
  return ['--banner', '-C', CONSUMER, '-F', V2_FORMAT, '-e', 'both', ...bias, ...chip, ...lines];
}

/** gpioset holding one output at `level` until it is ended. */
export function setArgs(major: GpiodMajor, chip: string | null, line: LineRef, level: Level): string[] {
  if (major === 1) {
    if (chip === null) throw new Error('libgpiod 1.x needs a chip for gpioset');
    return ['--mode=signal', chip, `${line}=${level}`];
  }
  return ['--banner', '-C', CONSUMER, ...(chip === null ? [] : ['-c', chip]), `${line}=${level}`];
}

/** v2 tools say they hold their lines (--banner); v1 tools say nothing when they succeed. */
export const V2_READY = { gpiomon: /^Monitoring lines? /, gpioset: /^Setting lines? / };

export interface MonitorEdge {
  offset: number;
  /** v2 prints the line's name ("unnamed" when it has none); v1 does not. */
  name: string | null;
  level: Level;
}

/** One line of gpiomon's output in our format, or null for anything else. */
export function parseMonitorLine(major: GpiodMajor, text: string): MonitorEdge | null {
  if (major === 1) {
    const m = /^(\d+) ([01]) \d+ \d+$/.exec(text);
    return m === null ? null : { offset: Number(m[1]), name: null, level: m[2] === '1' ? 1 : 0 };
  }
  const m = /^(\d+) ([12]) \d+\.\d+ (.*)$/.exec(text);
  return m === null ? null : { offset: Number(m[1]), name: m[3]!, level: m[2] === '1' ? 1 : 0 };
}

/** gpiofind's answer "gpiochip0 17", or null. */
export function parseGpiofind(text: string): { chip: string; offset: number } | null {
  const m = /^(\S+) (\d+)\s*$/.exec(text);
  return m === null ? null : { chip: m[1]!, offset: Number(m[2]) };
}
