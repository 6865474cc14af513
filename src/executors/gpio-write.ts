// The `gpio_write` tool (docs/hardware.md): drives a gpio_out of a board profile to a logical
// value, or with `pulse_ms` to that value and back; the step ends once the line is back.
// A signal that is down fails the step at once, with the reason, instead of waiting for it.

import type { ActionOf } from '../sop/types.js';
import type { Executor, StepContext, StepOutcome } from './types.js';

type Level = 0 | 1;
type WriteResult = { ok: true } | { ok: false; error: string };

/** What gpio_write needs of an output (a GpioBoard's signal, in src/sources/gpio/). */
export interface GpioOutputHandle {
  /** Null while the line can be driven; otherwise why it cannot. */
  down(): string | null;
  write(value: Level): Promise<WriteResult>;
  /** Sets `value`, waits `ms`, sets the other value; a later write cuts it short. */
  pulse(value: Level, ms: number): Promise<WriteResult>;
}

export type GpioLookup = (signal: string) => GpioOutputHandle | undefined;

export function createGpioWriteExecutor(lookup: GpioLookup): Executor<ActionOf<'gpio_write'>> {
  return {
    async run(action, ctx: StepContext): Promise<StepOutcome> {
      if (ctx.signal.aborted) return { status: 'failed', output: '[cancelled]' };
      const { signal: name, value, pulse_ms: pulseMs } = action.args;
      const output = lookup(name);
      if (output === undefined) return { status: 'failed', output: `[no gpio_out ${JSON.stringify(name)} in the board profiles]` };
      const down = output.down();
      if (down !== null) return { status: 'failed', output: `[gpio_write to ${name}: the signal is down: ${down}]` };
      if (pulseMs === undefined) {
        const result = await output.write(value);
        return result.ok ? { status: 'completed', output: `wrote ${value} to ${name}` } : failed(name, result.error);
      }
      const back: Level = value === 1 ? 0 : 1;
      // A cancelled run's pulse ends at once: the line goes back to where the pulse leaves it.
      const onAbort = (): void => void output.write(back);
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      try {
        const result = await output.pulse(value, pulseMs);
        if (ctx.signal.aborted) return { status: 'failed', output: '[cancelled]' };
        return result.ok ? { status: 'completed', output: `pulsed ${name}: ${value} for ${pulseMs} ms, then ${back}` } : failed(name, result.error);
      } finally {
        ctx.signal.removeEventListener('abort', onAbort);
      }
    },
  };
}

function failed(name: string, error: string): StepOutcome {
  return { status: 'failed', output: `[gpio_write to ${name}: ${error}]` };
}
