// What the engine answers its callers (the run model itself is in core/run.ts).
import type { Run } from '../core/run.js';

/** Who acted on a run, for the audit ledger. */
export type Actor = 'api' | 'cli' | 'mqtt' | 'upstream' | 'gpio' | 'timeout' | 'engine';

export const REFUSALS = ['unknown_sop', 'no_manual_trigger', 'no_steps', 'concurrency', 'global_concurrency', 'cooldown'] as const;
export type RefusalReason = (typeof REFUSALS)[number];

/** Nothing changed: the state database cannot be written just now (HTTP 503). */
export interface StorageUnavailable {
  ok: false;
  reason: 'storage_unavailable';
  message: string;
  /** Why writes fail, in the database's words. */
  detail: string;
  /** When the gateway tries to write again. */
  retryAfterSecs: number;
}

export type StartResult =
  | { ok: true; run: Run }
  | { ok: false; reason: RefusalReason; message: string; /** cooldown: seconds left */ retryAfterSecs?: number }
  | StorageUnavailable;

/** Why approve/advance/cancel did nothing. */
export type ActionRefusal = 'not_found' | 'not_waiting' | 'waiting_approval' | 'not_external' | 'finished';

export type ActionResult = { ok: true; run: Run } | { ok: false; reason: ActionRefusal; message: string } | StorageUnavailable;
