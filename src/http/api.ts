// The /api/* handlers (DESIGN.md §5). Lists are JSON arrays (`GET /api/sops` the SOP
// objects, `GET /api/runs` the run objects, newest first); engine refusals become 409s
// whose `error` is the engine's reason, so clients can branch on it.
import type { IncomingMessage } from 'node:http';
import type { Engine } from '../engine/engine.js';
import { RUN_STATUSES, type ActionResult, type StartResult, type StepStatus } from '../engine/types.js';
import type { Clock } from '../engine/clock.js';
import type { GatewayEvent } from '../events.js';
import { sopToJson } from '../sop/json.js';
import { isOneOf, type SopDefinition } from '../sop/types.js';
import { VERSION } from '../version.js';
import type { Handler } from './context.js';
import { badRequest, error, json, notFound, type Reply } from './reply.js';
import type { Router } from './router.js';
import { isoTime } from '../time.js';

export interface ApiDeps {
  engine: Engine;
  sops: () => readonly SopDefinition[];
  clock: Clock;
  reload?: () => Promise<{ ok: boolean; loaded: number; errors: number }>;
  /** Extra figures for GET /api/status (the HTTP layer's own counters). */
  status: () => Record<string, unknown>;
}

const STEP_STATUSES: readonly StepStatus[] = ['completed', 'failed', 'skipped'];
const MAX_LIST = 1000;

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
      const started = await d.engine.startRun(name, event);
      return started.ok ? json(201, started.run, { location: `/api/runs/${encodeURIComponent(started.run.run_id)}` }) : refusal(started);
    })
    .add('GET', '/api/runs', ({ query }) => {
      const status = query.get('status');
      const sop = query.get('sop');
      const limit = query.get('limit');
      if (status !== null && !isOneOf(RUN_STATUSES, status)) return badRequest(`status must be one of ${RUN_STATUSES.join(', ')}`);
      if (limit !== null && !(/^\d{1,7}$/.test(limit) && Number(limit) >= 1 && Number(limit) <= MAX_LIST)) {
        return badRequest(`limit must be a whole number from 1 to ${MAX_LIST}`);
      }
      const filter: Parameters<Engine['listRuns']>[0] = {};
      if (status !== null) filter.status = status;
      if (sop !== null && sop !== '') filter.sop = sop;
      if (limit !== null) filter.limit = Number(limit);
      return json(200, d.engine.listRuns(filter));
    })
    .add('GET', '/api/ledger', ({ query }) => {
      const run = query.get('run');
      const limit = Number(query.get('limit') ?? 100);
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIST) return badRequest(`limit must be a whole number from 1 to ${MAX_LIST}`);
      return json(200, d.engine.ledger(run ?? undefined, limit));
    })
    .add('GET', '/api/runs/:id', ({ params }) => {
      const run = d.engine.getRun(params.id!);
      return run === null ? notFound(`no run ${params.id}`) : json(200, run);
    })
    .add('POST', '/api/runs/:id/approve', async ({ params, req }) => action(await d.engine.approve(params.id!, actorOf(req))))
    .add('POST', '/api/runs/:id/advance', async (ctx) => {
      const body = await ctx.body();
      if (!body.ok) return body.reply;
      const result = parseAdvance(body.text);
      if (typeof result === 'string') return badRequest(result);
      return action(await d.engine.advance(ctx.params.id!, result, actorOf(ctx.req)));
    })
    .add('POST', '/api/runs/:id/cancel', async ({ params, req }) => action(await d.engine.cancel(params.id!, actorOf(req))))
    .add('POST', '/api/reload', async () => {
      if (d.reload === undefined) return error(501, 'not_implemented', 'this gateway cannot reload its SOPs');
      return json(200, await d.reload());
    })
    .add('GET', '/api/status', () => {
      const sops = d.sops();
      return json(200, {
        status: 'ok',
        version: VERSION,
        uptime_secs: Math.floor(process.uptime()),
        sops_loaded: sops.length,
        engine: d.engine.stats(),
        ...d.status(),
      });
    });
}

function refusal(r: Extract<StartResult, { ok: false }>): Reply {
  if (r.reason === 'unknown_sop') return notFound(r.message);
  if (r.retryAfterSecs === undefined) return error(409, r.reason, r.message);
  return error(409, r.reason, r.message, { retry_after_secs: r.retryAfterSecs }, { 'retry-after': String(r.retryAfterSecs) });
}

function action(r: ActionResult): Reply {
  if (r.ok) return json(200, r.run);
  return r.reason === 'not_found' ? notFound(r.message) : error(409, r.reason, r.message);
}

/** `{"status": "completed"|"failed"|"skipped", "output"?: string}`, or what is wrong with it. */
export function parseAdvance(text: string): { status: StepStatus; output?: string } | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'the body must be JSON: {"status": "completed" | "failed" | "skipped", "output": "..."}';
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'the body must be a JSON object';
  const { status, output } = value as { status?: unknown; output?: unknown };
  if (!isOneOf(STEP_STATUSES, status)) return `status must be one of ${STEP_STATUSES.join(', ')}`;
  if (output === undefined || output === null) return { status };
  if (typeof output !== 'string') return 'output must be a string';
  return { status, output };
}

/**
 * Who acts, for the audit ledger: `sopgate approve` says `X-Sopgate-Actor: cli`; anything
 * else through the API is "api". Only these two: a header must not claim "timeout".
 */
function actorOf(req: IncomingMessage): 'api' | 'cli' {
  return req.headers['x-sopgate-actor'] === 'cli' ? 'cli' : 'api';
}
