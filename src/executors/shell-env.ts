// What a shell step's script is given: the SOP_* environment and SOP_PAYLOAD_FILE, a
// private file that holds the payload exactly. The environment cannot carry every
// payload: Linux refuses to start a program with one environment string over
// MAX_ARG_STRLEN (E2BIG), and a NUL ends a C string. The file always can.
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StepContext } from './types.js';

/**
 * The longest `NAME=value` string, NUL included, that Linux passes to a new program:
 * MAX_ARG_STRLEN, 32 pages, taken at the smallest page size (4 KiB).
 */
export const MAX_ENV_STRING_BYTES = 32 * 4096;

/** Whether `NAME=value` can go into a program's environment. */
export function fitsEnv(name: string, value: string): boolean {
  return !value.includes('\0') && Buffer.byteLength(name) + 1 + Buffer.byteLength(value) + 1 <= MAX_ENV_STRING_BYTES;
}

/**
 * The gateway's environment plus the step's SOP_* variables. A value that cannot go
 * into an environment is left unset (never inherited from the gateway's own).
 */
export function stepEnv(ctx: StepContext, payloadFile: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  const vars: Record<string, string> = {
    SOP_PAYLOAD: ctx.event.payload ?? '',
    SOP_PAYLOAD_FILE: payloadFile,
    SOP_RUN_ID: ctx.runId,
    SOP_NAME: ctx.sopName,
    SOP_STEP: String(ctx.stepNumber),
    SOP_TRIGGER_SOURCE: ctx.event.source,
    SOP_TRIGGER_TOPIC: ctx.event.topic ?? '',
  };
  for (const [name, value] of Object.entries(vars)) {
    if (fitsEnv(name, value)) env[name] = value;
    else delete env[name];
  }
  return env;
}

export interface PayloadFile {
  path: string;
  remove(): Promise<void>;
}

/** Writes the payload to a new file only the gateway's user can read (O_EXCL: never through a planted link). */
export async function writePayloadFile(payload: string, dir: string): Promise<PayloadFile> {
  const path = join(dir, `sopgate-payload-${randomBytes(9).toString('hex')}`);
  try {
    await writeFile(path, payload, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    // A half-written file (ENOSPC) goes; one that was already there (EEXIST) is not ours.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') await rm(path, { force: true }).catch(() => {});
    throw err;
  }
  return { path, remove: () => rm(path, { force: true }) };
}
