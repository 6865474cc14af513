import { randomBytes } from 'node:crypto';

let counter = 0;

/**
 * Run ids sort by start time and stay unique across restarts (random part) and within one
 * millisecond (counter): "mi3k9x2a-01b-4f9c2e".
 */
export function newRunId(nowMs: number): string {
  counter = (counter + 1) % 46656;
  return `${nowMs.toString(36)}-${counter.toString(36).padStart(3, '0')}-${randomBytes(3).toString('hex')}`;
}
