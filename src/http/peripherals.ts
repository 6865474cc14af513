// The board profiles' signals over HTTP (docs/hardware.md): GET /api/peripherals lists every
// signal with its state, and /api/sim/<board>/<signal> drives (POST) or reads (GET) a
// signal of a `sim` board. The gateway's hardware answers; this file only speaks HTTP.
import type { Handler } from './context.js';
import { error, json, notFound, type Reply } from './reply.js';
import type { Router } from './router.js';

export type SignalKind = 'gpio_in' | 'gpio_out' | 'serial';

/** One signal as GET /api/peripherals shows it. */
export interface PeripheralState {
  board: string;
  signal: string;
  type: SignalKind;
  /** gpiod | sysfs | sim for GPIO; serialport or sim for serial. */
  backend: string;
  state: 'starting' | 'up' | 'down';
  /** GPIO: the logical level (null while unknown); serial: null. */
  value: 0 | 1 | null;
  last_event_at: string | null;
  error: string | null;
}

/** A sim board's signal as GET /api/sim/<board>/<signal> shows it. */
export interface SimReading {
  board: string;
  signal: string;
  type: SignalKind;
  /** GPIO: the logical level now; serial: the last line the simulated device sent (or null). */
  value: 0 | 1 | string | null;
  /** What the gateway wrote to it, oldest first (at most the last 100). */
  writes: { value: 0 | 1 | string; at: string }[];
}

export type SimAnswer = { ok: true; reading: SimReading } | { ok: false; status: 400 | 404 | 409; message: string };

/** What the routes need of the gateway's hardware. */
export interface Peripherals {
  list(): PeripheralState[];
  simRead(board: string, signal: string): SimAnswer;
  /** A gpio_in takes "1" or "0"; a serial signal takes text, one line or several. */
  simDrive(board: string, signal: string, body: string): SimAnswer;
}

export function addPeripheralRoutes(router: Router<Handler>, peripherals: Peripherals): void {
  router
    .add('GET', '/api/peripherals', () => json(200, peripherals.list()))
    .add('GET', '/api/sim/:board/:signal', ({ params }) => answer(peripherals.simRead(params.board!, params.signal!)))
    .add('POST', '/api/sim/:board/:signal', async (ctx) => {
      const body = await ctx.body();
      if (!body.ok) return body.reply;
      return answer(peripherals.simDrive(ctx.params.board!, ctx.params.signal!, body.text));
    });
}

function answer(a: SimAnswer): Reply {
  if (a.ok) return json(200, a.reading);
  if (a.status === 404) return notFound(a.message);
  return error(a.status, a.status === 400 ? 'bad_request' : 'conflict', a.message);
}

/** GET /api/status's `peripherals`, which `sopgate status` shows. */
export type PeripheralSummary = ReturnType<typeof peripheralSummary>;

/** For GET /api/status: how many signals there are, how many are up, and which are down. */
export function peripheralSummary(states: readonly PeripheralState[]) {
  return {
    signals: states.length,
    up: states.filter((s) => s.state === 'up').length,
    down: states.filter((s) => s.state === 'down').map((s) => ({ board: s.board, signal: s.signal, type: s.type, error: s.error })),
  };
}
