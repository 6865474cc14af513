// The `serial_write` tool (docs/hardware.md): writes `data` (templated, the signal's delimiter
// appended) to a serial signal's port and, with `expect`, waits for the first line
// received that matches it; that line is the step's output. Lines received meanwhile
// are still events. `expect` is not templated: a payload must not write the pattern.

import type { ActionOf } from '../sop/types.js';
import { renderTemplate } from './template.js';
import type { Executor, StepContext, StepOutcome } from './types.js';

/** What serial_write needs of a serial signal (SerialSignal in src/sources/serial/ is one). */
export interface SerialPortHandle {
  readonly path: string;
  exchange(request: {
    data: string;
    expect: RegExp | null;
    timeoutMs: number;
    signal?: AbortSignal;
  }): Promise<{ ok: true; output: string } | { ok: false; error: string }>;
}

export type SerialLookup = (signal: string) => SerialPortHandle | undefined;

export function createSerialWriteExecutor(lookup: SerialLookup): Executor<ActionOf<'serial_write'>> {
  return {
    async run(action, ctx: StepContext): Promise<StepOutcome> {
      if (ctx.signal.aborted) return { status: 'failed', output: '[cancelled]' };
      const { signal: name, data: template } = action.args;
      const port = lookup(name);
      if (port === undefined) return { status: 'failed', output: `[no serial signal ${JSON.stringify(name)} in the board profiles]` };
      let expect: RegExp | null = null;
      if (action.args.expect !== undefined) {
        try {
          expect = new RegExp(action.args.expect);
        } catch (err) {
          return { status: 'failed', output: `[expect is not a valid regular expression: ${(err as Error).message}]` };
        }
      }
      const timeoutSecs = ctx.timeoutSecs ?? action.args.timeout_secs;
      const data = renderTemplate(template, ctx, 'text');
      const result = await port.exchange({ data, expect, timeoutMs: timeoutSecs * 1000, signal: ctx.signal });
      if (result.ok) return { status: 'completed', output: result.output };
      return { status: 'failed', output: result.error === 'cancelled' ? '[cancelled]' : `[serial_write to ${name}: ${result.error}]` };
    },
  };
}
