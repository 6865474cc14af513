// After a burst V8 keeps what it grew. A flood of messages left the daemon with several
// times its live heap as RSS for as long as it stayed quiet (docs/performance.md): the young
// generation stays at its largest, freed old-generation pages stay committed, and the pages
// V8 has given up are released only by a later full GC, which an idle process never needs.
// So once the gateway has gone quiet after its heap grew, this runs a full GC, another one
// tick later (V8 releases the freed pages in between) and a last one after 20 quiet
// seconds, when V8 sees its allocation rate has dropped and also shrinks the young
// generation. The next burst grows it again only as far as it needs.
//
// V8 offers a full GC only to a process started with --expose-gc (the systemd unit and
// `npm start` pass it); without it this does nothing: V8 flags are never changed at run
// time, which Node.js warns may crash the process.
import { getHeapStatistics } from 'node:v8';
import type { Logger } from '../core/log.js';

/** The heap has grown this far past its size after the last trim (or at start). */
const GROWN_BYTES = 16 * 2 ** 20;
/** Events and state changes within one tick below which the gateway counts as quiet. */
const QUIET_BELOW = 25;
const TICK_MS = 2_000;
/** Quiet ticks from one collection to the next after the first: the second, then the last. */
const FOLLOW_UPS = [1, 10];

/** V8's full GC where node was started with --expose-gc; null otherwise. */
export function exposedGc(): (() => void) | null {
  const gc = (globalThis as { gc?: unknown }).gc;
  return typeof gc === 'function' ? (gc as () => void) : null;
}

export interface IdleGcDeps {
  /** A count that grows with the gateway's work: events received and state changes. */
  activity: () => number;
  logger: Logger;
  /** The full GC; by default V8's where node was started with --expose-gc (null: none). */
  gc?: (() => void) | null;
  /** V8's committed heap in bytes. */
  heapBytes?: () => number;
}

export class IdleGc {
  private readonly gc: (() => void) | null;
  private readonly heapBytes: () => number;
  private timer: NodeJS.Timeout | null = null;
  private lastActivity: number;
  private baseline: number;
  /** Quiet ticks until each collection still to come; a busy tick drops them. */
  private followUps: number[] = [];

  constructor(private readonly deps: IdleGcDeps) {
    this.gc = deps.gc === undefined ? exposedGc() : deps.gc;
    this.heapBytes = deps.heapBytes ?? (() => getHeapStatistics().total_heap_size);
    this.lastActivity = deps.activity();
    this.baseline = this.heapBytes();
  }

  /** Looks every `everyMs`; does nothing where there is no full GC to run. */
  start(everyMs = TICK_MS): void {
    if (this.gc === null) {
      this.deps.logger.log('debug', 'idle GC off: node was started without --expose-gc');
      return;
    }
    this.timer = setInterval(() => this.tick(), everyMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** One look at the gateway; true when it collected. */
  tick(): boolean {
    const gc = this.gc;
    if (gc === null) return false;
    const activity = this.deps.activity();
    const quiet = activity - this.lastActivity < QUIET_BELOW;
    this.lastActivity = activity;
    if (!quiet) {
      this.followUps = [];
      return false;
    }
    if (this.followUps.length > 0) {
      if (--this.followUps[0]! > 0) return false;
      this.followUps.shift();
      gc();
      this.baseline = this.heapBytes();
      this.deps.logger.log('debug', `quiet after a burst: V8 heap ${mb(this.baseline)} after a full GC`);
      return true;
    }
    const heap = this.heapBytes();
    if (heap < this.baseline + GROWN_BYTES) return false;
    gc();
    this.followUps = [...FOLLOW_UPS];
    this.deps.logger.log('debug', `quiet after a burst: V8 heap ${mb(heap)}, collecting`);
    return true;
  }
}

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
