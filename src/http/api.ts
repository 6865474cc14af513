// The /api/* handlers (docs/http-api.md). Lists are JSON arrays (`GET /api/sops` the SOP
// objects, `GET /api/runs` run previews, newest first); engine refusals become 409s
// whose `error` is the engine's reason, so clients can branch on it.
import type { IncomingMessage } from 'node:http';
import type { Dispatched } from '../dispatch/dispatcher.js';
import type { Engine } from '../engine/engine.js';
import type { RunPreview } from '../engine/run-preview.js';
import { parseStepResult, RUN_STATUSES } from '../core/run.js';
import type { ActionResult, StartResult } from '../engine/types.js';
import type { Clock } from '../core/clock.js';
import type { GatewayEvent } from '../core/events.js';
import { sopToJson } from '../sop/json.js';
import { isOneOf, type SopDefinition } from '../sop/types.js';
import { VERSION } from '../core/version.js';
import type { Handler } from './context.js';
import { queryInt } from './query.js';
import { badRequest, error, json, notFound, storageUnavailable, type Reply } from './reply.js';
import type { Router } from './router.js';
import { isoTime } from '../core/time.js';

export interface ApiDeps {
  engine: Engine;
  /** The gateway's one event path: a manual execute is an event too. */
  dispatch: (event: GatewayEvent) => Promise<Dispatched>;
  sops: () => readonly SopDefinition[];
  clock: Clock;
  reload?: () => Promise<{ ok: boolean; loaded: number; errors: number }>;
  /** Extra figures for GET /api/status (the HTTP layer's own counters). */
  status: () => Record<string, unknown>;
}

const MAX_LIST = 1000;
/** How long a list may hold the event loop before it lets other work in. */
const SLICE_MS = 20;

export function addApiRoutes(router: Router<Handler>, d: ApiDeps): void {
  const findSop = (name: string | undefined) => d.sops().find((s) => s.name === name);
  router
    .add('GET', '/api/sops', () => json(200, d.sops().map(sopToJson)))
    .add('GET', '/api/sops/:name', ({ params }) => {
      const sop = findSop(params.name);
      return sop === undefined ? notFound(`no SOP named "${params.name}" is loaded`) : json(200, sopToJson(sop));
    })
    .add('POST', '/api/sops/:name/execute', async (ctx) => {
      const name = ctx.params.name!;
      const sop = findSop(name);
      if (sop === undefined) return notFound(`no SOP named "${name}" is loaded`);
      if (!sop.triggers.some((t) => t.type === 'manual')) {
        return error(422, 'no_manual_trigger', `${name} declares no manual trigger, so it cannot be started by hand`);
      }
      const body = await ctx.body();
      if (!body.ok) return body.reply;
      const event: GatewayEvent = { source: 'manual', topic: name, timestamp: isoTime(d.clock.now()) };
      if (body.text !== '') event.payload = body.text;
      const { results } = await d.dispatch(event);
      const started = results[0];
      // Unloaded by a reload while the body was read.
      if (started === undefined) return notFound(`no SOP named "${name}" is loaded`);
      return started.ok ? json(201, started.run, { location: `/api/runs/${encodeURIComponent(started.run.run_id)}` }) : refusal(started);
    })
    .add('GET', '/api/runs', async ({ query }) => {
      const status = query.get('status');
      const sop = query.get('sop');
      const limit = queryInt(query, 'limit', { min: 1, max: MAX_LIST, fallback: 100 });
      if (status !== null && !isOneOf(RUN_STATUSES, status)) return badRequest(`status must be one of ${RUN_STATUSES.join(', ')}`);
      if (!limit.ok) return limit.reply;
      const filter: Parameters<Engine['listRunIds']>[0] = { limit: limit.value };
      if (status !== null) filter.status = status;
      if (sop !== null && sop !== '') filter.sop = sop;
      return json(200, await previews(d.engine, d.engine.listRunIds(filter)));
    })
    .add('GET', '/api/ledger', ({ query }) => {
      const run = query.get('run');
      const limit = queryInt(query, 'limit', { min: 1, max: MAX_LIST, fallback: 100 });
      if (!limit.ok) return limit.reply;
      return json(200, d.engine.ledger(run ?? undefined, limit.value));
    })
    .add('GET', '/api/runs/:id', ({ params }) => {
      const run = d.engine.getRun(params.id!);
      return run === null ? notFound(`no run ${params.id}`) : json(200, run);
    })
    .add('POST', '/api/runs/:id/approve', async ({ params, req }) => action(await d.engine.approve(params.id!, actorOf(req))))
    .add('POST', '/api/runs/:id/advance', async (ctx) => {
      const body = await ctx.body();
      if (!body.ok) return body.reply;
      const result = parseStepResult(body.text);
      if (typeof result === 'string') return badRequest(`invalid step result: ${result}`);
      return action(await d.engine.advance(ctx.params.id!, result, actorOf(ctx.req)));
    })
    .add('POST', '/api/runs/:id/cancel', async ({ params, req }) => action(await d.engine.cancel(params.id!, actorOf(req))))
    .add('POST', '/api/reload', async () => {
      if (d.reload === undefined) return error(501, 'not_implemented', 'this gateway cannot reload its SOPs');
      return json(200, await d.reload());
    })
    .add('GET', '/api/status', () => {
      const sops = d.sops();
      const engine = d.engine.stats();
      return json(200, {
        status: engine.storage.available ? 'ok' : 'degraded',
        version: VERSION,
        uptime_secs: Math.floor(process.uptime()),
        sops_loaded: sops.length,
        engine,
        ...d.status(),
      });
    });
}

/**
 * The previews of these runs. Reading a run costs what its stored text weighs, not what its
 * preview keeps (SQLite reads a whole value to cut it), so the work is sliced: the event
 * loop is given back every SLICE_MS and no request holds it for long, however big the runs.
 * A run that is pruned meanwhile is left out.
 */
async function previews(engine: Engine, ids: readonly string[]): Promise<RunPreview[]> {
  const runs: RunPreview[] = [];
  // The first slice waits too: run from the poll phase, it would be followed at once by the
  // next one (setImmediate callbacks run right after the poll); from then on, I/O comes between.
  let sliceStart = -Infinity;
  for (const id of ids) {
    if (performance.now() - sliceStart >= SLICE_MS) {
      await new Promise((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    }
    const run = engine.runPreview(id);
    if (run !== null) runs.push(run);
  }
  return runs;
}

function refusal(r: Extract<StartResult, { ok: false }>): Reply {
  if (r.reason === 'storage_unavailable') return storageUnavailable(r);
  if (r.reason === 'unknown_sop') return notFound(r.message);
  if (r.retryAfterSecs === undefined) return error(409, r.reason, r.message);
  return error(409, r.reason, r.message, { retry_after_secs: r.retryAfterSecs }, { 'retry-after': String(r.retryAfterSecs) });
}

function action(r: ActionResult): Reply {
  if (r.ok) return json(200, r.run);
  if (r.reason === 'storage_unavailable') return storageUnavailable(r);
  return r.reason === 'not_found' ? notFound(r.message) : error(409, r.reason, r.message);
}


/**
 * Who acts, for the audit ledger: `sopgate approve` says `X-Sopgate-Actor: cli`; anything
 * else through the API is "api". Only these two: a header must not claim "timeout".
 */
function actorOf(req: IncomingMessage): 'api' | 'cli' {
  return req.headers['x-sopgate-actor'] === 'cli' ? 'cli' : 'api';
}
