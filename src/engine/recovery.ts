// After a restart or a crash: the runs the store still holds as active, each with the SOP
// definition it started with. The engine decides how each one goes on.
import type { Logger } from '../core/log.js';
import type { SopDefinition } from '../sop/types.js';
import type { RunStore } from '../store/run-store.js';
import type { Clock } from '../core/clock.js';
import { RunState } from './run-state.js';
import type { Snapshots } from './snapshots.js';
import { isoTime } from '../core/time.js';
import { errorMessage } from '../core/errors.js';

/** Yields one run at a time, so the engine resumes each before the next is read. */
export function* storedRuns(store: RunStore, snapshots: Snapshots, clock: Clock, log: Logger): Generator<RunState> {
  for (const record of store.activeRuns()) {
    const json = store.getSnapshot(record.sop_hash);
    if (json === null) {
      // The foreign key makes this unreachable unless the file was edited by hand; a run
      // without its definition cannot go on, so it fails instead of counting as active.
      const now = isoTime(clock.now());
      const reason = 'its SOP definition is missing from the database';
      log.log('error', `run ${record.run_id}: ${reason}; failing it`);
      try {
        store.transaction(() => {
          store.updateRun({ ...record, status: 'failed', phase: null, waiting_since: null, completed_at: now, reason });
          store.appendLedger({ at: now, kind: 'failed', sop_name: record.sop_name, run_id: record.run_id, step_number: null, actor: 'engine', detail: reason });
        });
      } catch (err) {
        // A full disk must not keep the gateway from starting: the next start tries again.
        log.log('error', `run ${record.run_id}: cannot record that it failed: ${errorMessage(err)}`);
      }
      continue;
    }
    snapshots.stored(record.sop_hash);
    yield new RunState(record, JSON.parse(json) as SopDefinition);
  }
}
