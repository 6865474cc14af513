// The `delay` tool (docs/sop-format.md): waits `seconds` on the injected clock, so tests
// move time with a manual clock instead of sleeping.

import type { ActionOf } from '../sop/types.js';
import type { Executor, ExecutorDeps, StepContext, StepOutcome } from './types.js';

export function createDelayExecutor(deps: ExecutorDeps): Executor<ActionOf<'delay'>> {
  return {
    run(action, ctx: StepContext): Promise<StepOutcome> {
      if (ctx.signal.aborted) return Promise.resolve({ status: 'failed', output: '[cancelled]' });
      const { seconds } = action.args;
      return new Promise<StepOutcome>((resolve) => {
        const onAbort = (): void => {
          // The timer goes too: a cancelled run must not leave a wake-up armed.
          timer.cancel();
          resolve({ status: 'failed', output: '[cancelled]' });
        };
        const timer = deps.clock.setTimer(seconds * 1000, () => {
          ctx.signal.removeEventListener('abort', onAbort);
          resolve({ status: 'completed', output: `waited ${seconds}s` });
        });
        ctx.signal.addEventListener('abort', onAbort, { once: true });
      });
    },
  };
}
