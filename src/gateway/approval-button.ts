// A press on a gpio_in with `approve`: the run that has waited longest for approval (of
// the named SOP only, when the profile names one) is approved, with the actor `gpio` and
// the signal in the ledger. A press with no run waiting changes nothing.
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Engine } from '../engine/engine.js';

export function approvalButton(engine: Pick<Engine, 'oldestWaiting' | 'approve'>, logger: Logger) {
  return (board: string, signal: string, sop: string | null): void => {
    const ref = `${board}/${signal}`;
    const runId = engine.oldestWaiting(sop);
    if (runId === undefined) {
      logger.log('info', `${ref} pressed: no run${sop === null ? '' : ` of ${sop}`} waits for approval`);
      return;
    }
    engine.approve(runId, 'gpio', ref).then(
      (r) => logger.log(r.ok ? 'info' : 'warn', r.ok ? `${ref} approved run ${runId}` : `${ref}: approving run ${runId} refused: ${r.message}`),
      (err: unknown) => logger.log('error', `${ref}: approving run ${runId}: ${errorMessage(err)}`),
    );
  };
}
