// What the serial tests watch: the events a SerialSource hands on and the lines it logs,
// each with a wait that resolves on arrival (no polling, no sleeps).
import type { GatewayEvent } from '../../src/core/events.js';
import { createLogger, type Logger } from '../../src/core/log.js';
import { withTimeout, WAIT_MS } from './process.js';

export interface Watched<T> {
  readonly items: T[];
  add(item: T): void;
  /** Resolves once `count` items have arrived. */
  count(count: number, ms?: number): Promise<T[]>;
  /** Resolves with the first item (already seen or still to come) that passes `test`. */
  find(test: (item: T) => boolean, what: string, ms?: number): Promise<T>;
}

export function watched<T>(describe: (item: T) => string = (item) => JSON.stringify(item)): Watched<T> {
  const items: T[] = [];
  let waiters: { check: () => boolean }[] = [];
  const wait = (check: () => boolean, what: string, ms: number): Promise<void> => {
    if (check()) return Promise.resolve();
    let waiter!: { check: () => boolean };
    const found = new Promise<void>((resolve) => {
      waiter = {
        check: () => {
          if (!check()) return false;
          resolve();
          return true;
        },
      };
      waiters.push(waiter);
    });
    return withTimeout(found, ms, `${what}; got ${items.length}: ${items.slice(-5).map(describe).join(' | ')}`).finally(() => {
      waiters = waiters.filter((w) => w !== waiter);
    });
  };
  return {
    items,
    add(item) {
      items.push(item);
      waiters = waiters.filter((w) => !w.check());
    },
    async count(count, ms = WAIT_MS) {
      await wait(() => items.length >= count, `${count} items`, ms);
      return items.slice(0, count);
    },
    async find(test, what, ms = WAIT_MS) {
      let hit: T | undefined;
      await wait(() => (hit = items.find(test)) !== undefined, what, ms);
      return hit as T;
    },
  };
}

export function eventSink(): Watched<GatewayEvent> & { onEvent: (event: GatewayEvent) => void } {
  const w = watched<GatewayEvent>((e) => `${e.topic} ${JSON.stringify(e.payload)}`);
  return Object.assign(w, { onEvent: (event: GatewayEvent) => w.add(event) });
}

export function logSink(): Watched<string> & { logger: Logger } {
  const w = watched<string>((line) => line);
  return Object.assign(w, { logger: createLogger({ level: 'debug', write: (line) => w.add(line) }) });
}
