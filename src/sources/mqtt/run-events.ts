// Run events out (<prefix>/runs/<run_id>/<event>) and external step results in
// (<prefix>/runs/<run_id>/result; read by core/run.ts parseStepResult).
import type { Client, PublishPacket } from 'aedes';
import type { RunEvent } from '../../core/run.js';
import type { GatewayTopics } from './topics.js';

/**
 * Knows which clients hold a subscription that can receive which run events, so that a
 * run event nobody listens to costs nothing (no JSON, no broker round): at thousands of
 * runs a second the serialisation would be a large share of the gateway's work, and an
 * agent that follows `+/completed` does not pay for `started` and `step`.
 */
export class RunEventSubscribers {
  private readonly filters = new Map<Client, Set<string>>();
  /** Per event kind, whether any filter can receive it; cleared when the filters change. */
  private readonly wanted = new Map<string, boolean>();

  constructor(private readonly topics: GatewayTopics) {}

  /** A granted subscription of a client allowed to receive gateway topics. */
  add(client: Client, filter: string): void {
    if (this.topics.reach(filter) === 'outside') return;
    let set = this.filters.get(client);
    if (set === undefined) this.filters.set(client, (set = new Set()));
    set.add(filter);
    this.wanted.clear();
  }

  remove(client: Client, filters: readonly string[]): void {
    const set = this.filters.get(client);
    if (set === undefined) return;
    for (const f of filters) set.delete(f);
    if (set.size === 0) this.filters.delete(client);
    this.wanted.clear();
  }

  forget(client: Client): void {
    if (this.filters.delete(client)) this.wanted.clear();
  }

  /** Whether some connected client can receive a run event of this kind. */
  wants(kind: RunEvent['kind']): boolean {
    let wanted = this.wanted.get(kind);
    if (wanted === undefined) {
      for (const client of this.filters.keys()) if (client.closed) this.filters.delete(client);
      wanted = [...this.filters.values()].some((set) => [...set].some((filter) => this.topics.receives(filter, kind)));
      this.wanted.set(kind, wanted);
    }
    return wanted;
  }
}

/**
 * The PUBLISH for a run event: the run object, or `{run, step}` for an external step's
 * context, which is retained: an agent that subscribes later (or after a restart of either
 * side) still learns of a step that waits for it.
 */
export function runEventPacket(topics: GatewayTopics, event: RunEvent): PublishPacket {
  const step = event.kind === 'step';
  return {
    cmd: 'publish',
    topic: topics.runEvent(event.run.run_id, event.kind),
    payload: Buffer.from(JSON.stringify(step ? { run: event.run, step: event.step ?? null } : event.run), 'utf8'),
    qos: 0,
    retain: step,
    dup: false,
  };
}
