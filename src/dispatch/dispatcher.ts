// The one path every event takes: each source (the broker, cron, webhooks, a manual
// execute, the board's signals) hands its GatewayEvent here, and nowhere else is an event
// counted, matched or turned into runs. Sources that need an answer (HTTP) wait for what
// every matched SOP made of the event; the others hand it on and go on.
import type { Engine } from '../engine/engine.js';
import type { Actor, StartResult } from '../engine/types.js';
import type { EventSource, GatewayEvent } from '../core/events.js';
import type { Logger } from '../core/log.js';
import type { Matcher } from '../match/matcher.js';
import { errorMessage } from '../core/errors.js';

export interface DispatcherDeps {
  /** The matcher of the SOP set loaded now (a reload replaces it). */
  matcher: () => Matcher;
  engine: Pick<Engine, 'startRun'>;
  logger: Logger;
}

/** What one event came to: the SOPs it matched, in order, and each one's start. */
export interface Dispatched {
  matched: string[];
  /** `results[i]` is `matched[i]`'s. */
  results: StartResult[];
}

export class Dispatcher {
  /** Events received, by source (sopgate_events_total). */
  readonly events = new Map<EventSource, number>();
  /** SOPs matched, summed over events: runs asked for (sopgate_matches_total). */
  matches = 0;

  constructor(private readonly deps: DispatcherDeps) {}

  /** For sources that answer nobody: match once, start every matched SOP; a failure is logged. */
  dispatch(event: GatewayEvent): void {
    for (const name of this.match(event)) {
      this.deps.engine.startRun(name, event).catch((err: unknown) => this.failed(name, err));
    }
  }

  /** For sources that answer: resolves once every matched SOP's start is decided (and durable). `actor` goes in the ledger. */
  dispatchAndWait(event: GatewayEvent, actor?: Actor): Promise<Dispatched> {
    const matched = this.match(event);
    // All asked in one turn: the engine checks limits in call order and writes them in one commit.
    return Promise.all(matched.map((name) => this.deps.engine.startRun(name, event, actor))).then((results) => ({ matched, results }));
  }

  /** Every event received so far, whatever its source (how busy the gateway is). */
  eventsTotal(): number {
    let n = 0;
    for (const count of this.events.values()) n += count;
    return n;
  }

  private match(event: GatewayEvent): string[] {
    this.events.set(event.source, (this.events.get(event.source) ?? 0) + 1);
    const names = this.deps.matcher().match(event);
    this.matches += names.length;
    return names;
  }

  private failed(name: string, err: unknown): void {
    this.deps.logger.log('error', `cannot start ${name}: ${errorMessage(err)}`);
  }
}
