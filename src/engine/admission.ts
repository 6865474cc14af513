// Whether a run may start, checked in the documented order: the SOP exists, it has
// steps, its own max_concurrent, the gateway's max_concurrent_total, its cooldown.
import type { SopDefinition } from '../sop/types.js';
import type { RefusalReason, StartResult } from './types.js';

export type Refusal = Extract<StartResult, { reason: RefusalReason }>;

export interface Load {
  /** Active runs of this SOP, waiting ones included. */
  activeOfSop: number;
  activeTotal: number;
  maxConcurrentTotal: number;
  /** When the SOP's last run finished (ms), whatever its outcome. */
  lastFinished: number | undefined;
  now: number;
}

export function admit(name: string, sop: SopDefinition | undefined, load: Load): Refusal | null {
  if (sop === undefined) return { ok: false, reason: 'unknown_sop', message: `no SOP named "${name}" is loaded` };
  if (sop.steps.length === 0) return { ok: false, reason: 'no_steps', message: `${name} has no steps` };
  if (load.activeOfSop >= sop.max_concurrent) {
    return { ok: false, reason: 'concurrency', message: `${name} already has ${sop.max_concurrent} active run(s) (max_concurrent)` };
  }
  if (load.activeTotal >= load.maxConcurrentTotal) {
    return {
      ok: false,
      reason: 'global_concurrency',
      message: `the gateway already has ${load.maxConcurrentTotal} active run(s) (max_concurrent_total)`,
    };
  }
  const cooldownMs = sop.cooldown_secs * 1000;
  if (cooldownMs > 0 && load.lastFinished !== undefined && load.now - load.lastFinished < cooldownMs) {
    const left = Math.ceil((load.lastFinished + cooldownMs - load.now) / 1000);
    return { ok: false, reason: 'cooldown', message: `${name} is cooling down for ${left} more second(s)`, retryAfterSecs: left };
  }
  return null;
}
