import { randomBytes } from 'node:crypto';

/** Drawn once per process: two processes (a restart) never share a run id. */
const PROCESS = randomBytes(3).toString('hex');
let counter = 0;

/**
 * Run ids sort by start time and stay unique across restarts (a random part per process)
 * and within one millisecond (a counter): "mi3k9x2a-01b-4f9c2e".
 */
export function newRunId(nowMs: number): string {
  counter = (counter + 1) % 46656;
  return `${nowMs.toString(36)}-${counter.toString(36).padStart(3, '0')}-${PROCESS}`;
}
