// The `log` tool (docs/sop-format.md): a message to the gateway's log, under the SOP's
// name as component so journald filters by SOP.

import type { ActionOf } from '../sop/types.js';
import { renderTemplate } from './template.js';
import type { Executor, ExecutorDeps, InlineOutcome, StepContext, StepOutcome } from './types.js';
import { errorMessage } from '../core/errors.js';

export function createLogExecutor(deps: ExecutorDeps): Executor<ActionOf<'log'>> {
  const inline = (action: ActionOf<'log'>, ctx: StepContext): InlineOutcome => {
    const { message: template, level } = action.args;
    // Text mode: the logger itself folds newlines, so one message stays one line.
    const message = renderTemplate(template, ctx, 'text');
    return { status: 'completed', output: message, effect: () => deps.logger.child(`sop:${ctx.sopName}`).log(level, message) };
  };
  return {
    inline,
    run(action, ctx): Promise<StepOutcome> {
      const { effect, ...outcome } = inline(action, ctx);
      try {
        effect?.();
      } catch (err) {
        // A broken log sink must not reject: executors report failures as outcomes.
        return Promise.resolve({ status: 'failed', output: `[could not log: ${errorMessage(err)}]` });
      }
      return Promise.resolve(outcome);
    },
  };
}
