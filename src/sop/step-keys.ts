// The keys a step's sub-bullets set (`- tools: ...`, `- requires_confirmation: true`,
// `- on_failure: retry 3`, `- timeout_secs: 90`) and what each value means.
import type { Finding, OnFailure, Step } from './types.js';

export const STEP_KEYS = ['tools', 'requires_confirmation', 'on_failure', 'timeout_secs'] as const;
export type StepKey = (typeof STEP_KEYS)[number];

/** `fail | continue | retry N` (N in 1..100, any case), or null when it is none of these. */
function parseOnFailure(value: string): OnFailure | null {
  const v = value.toLowerCase();
  if (v === 'fail' || v === 'continue') return { policy: v };
  const retries = /^retry[ \t]+(\d{1,3})$/.exec(v)?.[1];
  const n = Number(retries);
  return retries !== undefined && n >= 1 && n <= 100 ? { policy: 'retry', retries: n } : null;
}

/** Seconds as a plain positive decimal (`90`, `0.5`), at most a day; null otherwise. */
function parseTimeout(value: string): number | null {
  if (!/^(?:\d+(?:\.\d+)?|\.\d+)$/.test(value)) return null;
  const n = Number(value);
  return n > 0 && n <= 86400 ? n : null;
}

/** Sets `key` on `step`; a value that is not valid is an error finding and changes nothing. */
export function applyStepKey(step: Step, key: StepKey, value: string, { file, line }: { file: string; line: number }, errors: Finding[]): void {
  switch (key) {
    case 'tools':
      // One push per tool: a spread of 300,000 of them overflows the stack.
      for (const tool of value.split(',')) if (tool.trim() !== '') step.suggested_tools.push(tool.trim());
      return;
    case 'requires_confirmation':
      // Fail safe: once any bullet asks for confirmation, a later one cannot drop it.
      step.requires_confirmation ||= value.toLowerCase() === 'true';
      return;
    case 'on_failure': {
      // A later bullet replaces an earlier one; an invalid one leaves what was there.
      const policy = parseOnFailure(value);
      if (policy !== null) step.on_failure = policy;
      else errors.push({ message: `step ${step.number}: on_failure must be fail, continue or retry N (1-100), got "${value}"`, file, line });
      return;
    }
    case 'timeout_secs': {
      const secs = parseTimeout(value);
      if (secs !== null) step.timeout_secs = secs;
      else errors.push({ message: `step ${step.number}: timeout_secs must be a positive number of seconds (at most 86400), got "${value}"`, file, line });
      return;
    }
  }
}
