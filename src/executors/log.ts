// The `log` tool (DESIGN.md §2): a message to the gateway's log, under the SOP's
// name as component so journald filters by SOP.

import type { LogLevel } from '../log.js';
import type { StepAction } from '../sop/types.js';
import { renderTemplate } from './template.js';
import type { Executor, ExecutorDeps, StepContext, StepOutcome } from './types.js';
import { errorMessage } from '../errors.js';

const LEVELS: readonly string[] = ['debug', 'info', 'warn', 'error'];

export function createLogExecutor(deps: ExecutorDeps): Executor {
  return {
    run(action: StepAction, ctx: StepContext): Promise<StepOutcome> {
      const template = typeof action.args.message === 'string' ? action.args.message : '';
      const level = (LEVELS.includes(String(action.args.level)) ? action.args.level : 'info') as LogLevel;
      // Text mode: the logger itself folds newlines, so one message stays one line.
      const message = renderTemplate(template, ctx, 'text');
      try {
        deps.logger.child(`sop:${ctx.sopName}`).log(level, message);
      } catch (err) {
        // A broken log sink must not reject: executors report failures as outcomes.
        return Promise.resolve({ status: 'failed', output: `[could not log: ${errorMessage(err)}]` });
      }
      return Promise.resolve({ status: 'completed', output: message });
    },
  };
}
