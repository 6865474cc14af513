// The run events a batch of changes announces, as the outbox rows the upstream publisher
// sends: the same JSON the embedded broker carries (the run object; `{run, step}` for an
// external step's context), written inside the batch's transaction.
import type { OutboxStore } from '../store/outbox.js';
import { stepHandoff } from './handoff.js';
import type { Tx } from './run-state.js';

export function writeOutbox(outbox: OutboxStore, batch: readonly Tx[]): void {
  for (const tx of batch) {
    for (const { kind, st, step } of tx.announced) {
      const run = st.toRun();
      const body = step === undefined ? run : { run, step: stepHandoff(st.sop, run, step) };
      outbox.append(`runs/${run.run_id}/${kind}`, JSON.stringify(body));
    }
  }
  outbox.bound();
}
