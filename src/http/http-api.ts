// The gateway's HTTP face (docs/http-api.md): webhooks, the /api/* endpoints, /healthz and
// /metrics on node:http. Every request goes through one dispatcher that applies the
// bearer token and the rate limit to /api/* (webhooks check their own credentials and then
// take from the same limiter), catches whatever a handler throws (500, logged, never a
// crash), writes the reply, logs one line and counts it by route and status.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../core/clock.js';
import type { Engine } from '../engine/engine.js';
import type { StorageStatus } from '../engine/storage-guard.js';
import type { GatewayConfig } from '../config/config.js';
import type { Logger } from '../core/log.js';
import type { Dispatcher } from '../dispatch/dispatcher.js';
import type { SopDefinition } from '../sop/types.js';
import type { IdempotencyStore } from '../store/idempotency.js';
import { addApiRoutes } from './api.js';
import { addPeripheralRoutes, peripheralSummary, type Peripherals } from './peripherals.js';
import { bearerOk } from './auth.js';
import { readBody } from './body.js';
import type { Handler, RequestContext } from './context.js';
import { RateLimiter } from './rate-limit.js';
import { error, json, notFound, text, type Reply } from './reply.js';
import { Router } from './router.js';
import type { ListenAddress } from '../core/listen.js';
import { HttpListener } from './listener.js';
import { HttpCounters, type HttpStats } from './stats.js';
import { WebhookHandler } from './webhook.js';
import { errorMessage } from '../core/errors.js';

export interface HttpApiDeps {
  engine: Engine;
  sops: () => readonly SopDefinition[];
  /** The gateway's one event path, for webhooks and manual executes. */
  dispatcher: Pick<Dispatcher, 'dispatchAndWait'>;
  http: GatewayConfig['http'];
  token: string;
  idempotency: IdempotencyStore;
  clock: Clock;
  logger: Logger;
  /** Prometheus text for GET /metrics. */
  metrics: () => string;
  /** More of the gateway's state for GET /api/status (the upstream connection's). */
  status?: () => Record<string, unknown>;
  /** The board profiles' signals: GET /api/peripherals and the sim routes. */
  peripherals?: Peripherals;
  reload?: () => Promise<{ ok: boolean; loaded: number; errors: number }>;
  /** How long stop() lets requests in flight finish (default 10 s). */
  stopGraceMs?: number;
  /**
   * Every request passes through this before it is handled: the daemon holds requests
   * that arrive while it restores runs, and drops them (the socket is closed) if it fails to start.
   */
  gate?: (handle: () => void, drop: () => void) => void;
}

const PROMETHEUS_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
/** A connection we asked to close is destroyed after this long even if the client never reads. */
const CLOSE_DEADLINE_MS = 5_000;

export class HttpApi {
  private readonly deps: HttpApiDeps;
  private readonly log: Logger;
  private readonly router = new Router<Handler>();
  /** Per-address buckets: one for requests that authenticated, one for those that did not. */
  private readonly limiter: RateLimiter;
  private readonly refusedLimiter: RateLimiter;
  private readonly counters = new HttpCounters();
  private readonly server: HttpListener;

  constructor(deps: HttpApiDeps) {
    this.deps = deps;
    this.log = deps.logger.child('http');
    this.limiter = new RateLimiter(deps.http.rate_limit_per_minute, deps.clock);
    this.refusedLimiter = new RateLimiter(deps.http.rate_limit_per_minute, deps.clock);
    const gate = deps.gate ?? ((handle: () => void) => handle());
    this.server = new HttpListener((req, res) => {
      const handle = (): void => {
        this.dispatch(req, res).catch((err: unknown) => {
          this.log.log('error', `cannot answer ${req.method} ${req.url}: ${errorMessage(err)}`);
          res.destroy();
        });
      };
      gate(handle, () => res.destroy());
    }, {
      graceMs: deps.stopGraceMs ?? 10_000,
      onError: (err) => this.log.log('error', `listener error: ${err.message}`),
    });
    const webhook = new WebhookHandler({
      dispatch: (event) => deps.dispatcher.dispatchAndWait(event),
      auth: deps.http.webhook_auth,
      token: deps.token,
      secret: deps.http.webhook_secret,
      idempotency: deps.idempotency,
      ttlSecs: deps.http.idempotency_ttl_secs,
      clock: deps.clock,
      counters: this.counters,
      logger: this.log,
      admit: (client, authenticated) => this.admit(client, authenticated),
    });
    this.router
      .add('GET', '/healthz', () => health(deps.engine.storageStatus()))
      .add('GET', '/metrics', () => text(200, deps.metrics(), PROMETHEUS_TYPE))
      .add('POST', '/webhook', webhook.handle)
      .add('POST', '/sop/*rest', webhook.handle);
    const apiDeps: Parameters<typeof addApiRoutes>[1] = {
      engine: deps.engine,
      dispatch: (event) => deps.dispatcher.dispatchAndWait(event),
      sops: deps.sops,
      clock: deps.clock,
      status: () => ({
        http: this.stats(),
        ...(deps.peripherals === undefined ? {} : { peripherals: peripheralSummary(deps.peripherals.list()) }),
        ...deps.status?.(),
      }),
    };
    if (deps.reload !== undefined) apiDeps.reload = deps.reload;
    addApiRoutes(this.router, apiDeps);
    if (deps.peripherals !== undefined) addPeripheralRoutes(this.router, deps.peripherals);
  }

  async start(listen: string): Promise<ListenAddress> {
    const { webhook_auth: auth, webhook_secret: secret } = this.deps.http;
    if ((auth === 'secret' || auth === 'hmac') && secret === '') {
      this.log.log('warn', `webhook_auth = "${auth}" but webhook_secret is empty: every webhook will be refused`);
    }
    const address = await this.server.start(listen);
    this.log.log('debug', `listening on http://${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`);
    return address;
  }

  /** Stops accepting, lets requests in flight finish, then closes every connection. */
  stop(): Promise<void> {
    return this.server.stop();
  }

  /** Requests by route and status, for /metrics (see httpMetricsText). */
  stats(): HttpStats {
    return this.counters.snapshot();
  }

  private async dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const startedAt = performance.now();
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const client = req.socket.remoteAddress ?? 'unknown';
    let route = 'unmatched';
    let reply: Reply;
    try {
      // HEAD is GET without the body (RFC 9110 §9.3.2), for monitors that probe with it.
      const found = this.router.find(method === 'HEAD' ? 'GET' : method, path);
      if (found.kind === 'found' || found.kind === 'method') route = found.route;
      reply = this.guard(req, path, client) ?? (await this.route(found, req, path, url.slice(q < 0 ? url.length : q + 1), client));
    } catch (err) {
      this.log.log('error', `${method} ${path} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      reply = error(500, 'internal', 'internal error; the gateway log has the details');
    }
    write(req, res, reply);
    this.counters.count(route, reply.status);
    // A 503 says the gateway is degraded, which the store logs once when it begins, not per request.
    const level = reply.status >= 500 && reply.status !== 503 ? 'warn' : reply.status >= 400 ? 'info' : 'debug';
    this.log.log(level, `${method} ${path} ${reply.status} ${(performance.now() - startedAt).toFixed(1)}ms ${client}`);
  }

  /** The bearer token and the rate limit for /api/*, before any routing (webhooks check their own). */
  private guard(req: IncomingMessage, path: string, client: string): Reply | null {
    if (path !== '/api' && !path.startsWith('/api/')) return null;
    const authenticated = bearerOk(req.headers.authorization, this.deps.token);
    const limited = this.admit(client, authenticated);
    if (limited !== null || authenticated) return limited;
    return error(401, 'unauthorized', 'a valid bearer token is required (Authorization: Bearer <token>)', {}, { 'www-authenticate': 'Bearer' });
  }

  /**
   * Spends one request from the client address's bucket, or answers 429. Requests that fail
   * authentication spend a bucket of their own: a flood of bad tokens from an address (a
   * local process without the token shares 127.0.0.1 with the CLI) never 429s the holder.
   */
  private admit(client: string, authenticated: boolean): Reply | null {
    const rate = (authenticated ? this.limiter : this.refusedLimiter).take(client);
    if (rate.ok) return null;
    this.counters.rateLimited++;
    const secs = rate.retryAfterSecs;
    return error(429, 'rate_limited', `too many requests: try again in ${secs} s`, { retry_after_secs: secs }, { 'retry-after': String(secs) });
  }

  private async route(found: ReturnType<Router<Handler>['find']>, req: IncomingMessage, path: string, query: string, client: string): Promise<Reply> {
    switch (found.kind) {
      case 'none':
        return notFound(`no endpoint ${path}`);
      case 'bad_path':
        return error(400, 'bad_request', 'the path is not validly percent-encoded');
      case 'method': {
        const allow = found.allow.includes('GET') ? [...found.allow, 'HEAD'] : found.allow;
        return error(405, 'method_not_allowed', `${path} answers ${allow.join(', ')}`, {}, { allow: allow.join(', ') });
      }
      case 'found': {
        const limit = this.deps.http.max_body_bytes;
        const ctx: RequestContext = { req, path, query: new URLSearchParams(query), params: found.params, client, body: () => readBody(req, limit) };
        return found.handler(ctx);
      }
    }
  }
}

/** 503 while the state database cannot be written, so that monitors and the watchdog see it. */
function health(storage: StorageStatus): Reply {
  if (storage.available) return json(200, { status: 'ok' });
  return json(503, {
    status: 'degraded',
    error: 'storage_unavailable',
    message: `the state database cannot be written since ${storage.since}: state changes are refused until it can`,
    reason: storage.reason,
    since: storage.since,
    retry_in_secs: storage.retryInSecs,
  });
}

function write(req: IncomingMessage, res: ServerResponse, reply: Reply): void {
  if (res.headersSent || res.destroyed) return;
  const headers: Record<string, string | number> = { ...reply.headers, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(reply.body) };
  // A refused request whose body is still arriving (a wrong token on a large upload) is not
  // worth reading to the end to keep the connection alive.
  if (reply.close || (reply.status >= 400 && !req.complete)) {
    headers.connection = 'close';
    const socket = res.socket;
    res.once('finish', () => setTimeout(() => socket?.destroy(), CLOSE_DEADLINE_MS).unref());
  }
  res.writeHead(reply.status, headers);
  res.end(req.method === 'HEAD' ? undefined : reply.body);
}
