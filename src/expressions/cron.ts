// Cron expressions (docs/sop-format.md): 5 fields get seconds "0" prepended; 6 fields are
// seconds-first; the 7th field is the year. croner does the parsing.
import { Cron } from 'croner';
import { errorMessage } from '../core/errors.js';

/** The form a cron trigger is keyed by: trimmed, runs of whitespace collapsed. */
export function cronKey(expression: string): string {
  return expression.trim().split(/\s+/).join(' ');
}

export type CronPatternResult = { ok: true; pattern: string } | { ok: false; error: string };

/** The croner pattern for an expression, after the field-count rule. */
export function cronPattern(expression: string): CronPatternResult {
  const key = cronKey(expression);
  if (key === '') return { ok: false, error: 'cron expression is empty' };
  if (key.startsWith('@')) return { ok: true, pattern: key };
  const fields = key.split(' ').length;
  if (fields === 5) return { ok: true, pattern: `0 ${key}` };
  if (fields === 6 || fields === 7) return { ok: true, pattern: key };
  return {
    ok: false,
    error: `cron expression "${key}" has ${fields} fields; expected 5 (minute hour day month weekday), 6 (seconds first) or 7 (seconds first, year last)`,
  };
}

/**
 * Builds a paused croner job for the expression, or says why it cannot be one:
 * croner rejects it, the timezone is unknown, or it can never fire after `from`.
 */
export function compileCron(
  expression: string,
  timezone: string,
  from: Date = new Date(),
): { ok: true; cron: Cron } | { ok: false; error: string } {
  const pattern = cronPattern(expression);
  if (!pattern.ok) return pattern;
  let cron: Cron;
  try {
    // Standard crontab semantics: 0 and 7 are Sunday; day-of-month and weekday are OR-ed.
    cron = new Cron(pattern.pattern, {
      paused: true,
      // UTC as an offset: a named zone loads ICU's time zone data (megabytes of memory).
      ...(timezone === 'UTC' ? { utcOffset: 0 } : { timezone }),
      mode: pattern.pattern.startsWith('@') ? 'auto' : '6-or-7-parts',
    });
  } catch (err) {
    return { ok: false, error: `invalid cron expression "${cronKey(expression)}": ${cronMessage(err)}` };
  }
  let next: Date | null;
  try {
    next = cron.nextRun(from);
  } catch (err) {
    cron.stop();
    return { ok: false, error: `invalid cron expression "${cronKey(expression)}": ${cronMessage(err)}` };
  }
  if (next === null) {
    cron.stop();
    return { ok: false, error: `cron expression "${cronKey(expression)}" never fires` };
  }
  dropUnusedYears(cron);
  return { ok: true, cron };
}

/**
 * croner 11 fills a 10,000-entry table of allowed years (80 KB) for every pattern and
 * consults it only when the year field is not "*" (`starYear`). A gateway keeps one job per
 * schedule for its whole life, so the table goes when it is never read. Anything else
 * (another croner shape) is left as it is.
 */
function dropUnusedYears(cron: Cron): void {
  const pattern = (cron as unknown as { _states?: { pattern?: { starYear?: unknown; year?: unknown } } })._states?.pattern;
  if (pattern?.starYear === true && Array.isArray(pattern.year)) pattern.year = [];
}

function cronMessage(err: unknown): string {
  const text = errorMessage(err);
  // croner prefixes its class name and sometimes nests the original error; keep the first sentence.
  return text.replace(/^Cron\w*:\s*/, '').split(' Original error:')[0]!.trim();
}
