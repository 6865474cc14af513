// The `log` tool (DESIGN.md §2): a message to the gateway's log, under the SOP's
// name as component so journald filters by SOP.

import type { LogLevel } from '../core/log.js';
import type { StepAction } from '../sop/types.js';
import { renderTemplate } from './template.js';
import type { Executor, ExecutorDeps, InlineOutcome, StepContext, StepOutcome } from './types.js';
import { errorMessage } from '../core/errors.js';

const LEVELS: readonly string[] = ['debug', 'info', 'warn', 'error'];

export function createLogExecutor(deps: ExecutorDeps): Executor {
  const inline = (action: StepAction, ctx: StepContext): InlineOutcome => {
    const template = typeof action.args.message === 'string' ? action.args.message : '';
    const level = (LEVELS.includes(String(action.args.level)) ? action.args.level : 'info') as LogLevel;
    // Text mode: the logger itself folds newlines, so one message stays one line.
    const message = renderTemplate(template, ctx, 'text');
    return { status: 'completed', output: message, effect: () => deps.logger.child(`sop:${ctx.sopName}`).log(level, message) };
  };
  return {
    inline,
    run(action: StepAction, ctx: StepContext): Promise<StepOutcome> {
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
