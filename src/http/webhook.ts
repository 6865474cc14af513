// Webhook triggers: `POST /sop/<rest>` and `POST /webhook` (docs/http-api.md). The body is
// the payload; every SOP whose webhook trigger names the path starts, and the 202 answer
// says which runs started and which SOPs were refused and why (runs start before we
// answer, so the answer is true). `X-Idempotency-Key` makes a repeated delivery to the same
// path a duplicate: the key is stored in SQLite once a run started, so it survives a restart;
// a delivery that started nothing is not recorded and may be retried with the same key.
import type { IncomingMessage } from 'node:http';
import type { Clock } from '../core/clock.js';
import type { Dispatched } from '../dispatch/dispatcher.js';
import type { Run } from '../core/run.js';
import type { StorageUnavailable } from '../engine/types.js';
import type { GatewayEvent } from '../core/events.js';
import type { Logger } from '../core/log.js';
import type { IdempotencyStore } from '../store/idempotency.js';
import { bearerOk, hmacOk, secretOk, signatureOf } from './auth.js';
import type { RequestContext } from './context.js';
import { badRequest, error, json, storageUnavailable, type Reply } from './reply.js';
import type { HttpCounters } from './stats.js';
import { errorMessage } from '../core/errors.js';
import { isoTime } from '../core/time.js';

export type WebhookAuth = 'token' | 'secret' | 'hmac' | 'none';

export interface WebhookDeps {
  /** The gateway's one event path: matches the event and starts every matched SOP. */
  dispatch: (event: GatewayEvent) => Promise<Dispatched>;
  auth: WebhookAuth;
  token: string;
  secret: string;
  idempotency: IdempotencyStore;
  ttlSecs: number;
  clock: Clock;
  counters: HttpCounters;
  logger: Logger;
  /** Spends a request from the client's bucket for authenticated or refused requests: a 429, or null. */
  admit: (client: string, authenticated: boolean) => Reply | null;
}

interface Accepted {
  status: 'accepted';
  matched_sops: string[];
  runs: Run[];
  refused: { sop: string; reason: string; message: string }[];
  path: string;
}

const MAX_KEY_LENGTH = 200;
const PURGE_EVERY_MS = 60_000;

export class WebhookHandler {
  private readonly deps: WebhookDeps;
  /** Deliveries in progress per path and idempotency key: a concurrent repeat waits for the first. */
  private readonly pending = new Map<string, Promise<unknown>>();
  private lastPurge = -Infinity;

  constructor(deps: WebhookDeps) {
    this.deps = deps;
  }

  readonly handle = async (ctx: RequestContext): Promise<Reply> => {
    const { req } = ctx;
    const deps = this.deps;
    // Credentials decide which rate bucket a delivery spends (see HttpApi.admit). Header
    // credentials are checked before the body is read; a signature needs the body.
    const byHeader = this.headerVerdict(req);
    if (byHeader !== 'body') {
      const refused = deps.admit(ctx.client, byHeader) ?? (byHeader ? null : this.unauthorized());
      if (refused !== null) return refused;
    }
    const body = await ctx.body();
    if (byHeader === 'body') {
      const signed = body.ok && hmacOk(req.headers['x-hub-signature-256'], deps.secret, body.raw);
      const refused = deps.admit(ctx.client, signed) ?? (signed || !body.ok ? null : this.unauthorized());
      if (refused !== null) return refused;
    }
    if (!body.ok) return body.reply;

    // Node joins repeated headers with ", ": two keys would pass as one key that neither sender used.
    const keys = req.headersDistinct['x-idempotency-key'];
    if (keys === undefined) return this.trigger(ctx.path, body.text, null);
    if (keys.length > 1) return badRequest(`X-Idempotency-Key is sent ${keys.length} times: send one key per request`);
    const key = keys[0]!;
    if (key === '' || key.length > MAX_KEY_LENGTH) {
      return badRequest(`X-Idempotency-Key must be one header of 1 to ${MAX_KEY_LENGTH} characters`);
    }
    // A key is scoped to its path (which has no spaces, so the pair reads one way only).
    // Check-and-claim happens without an await in between: one delivery per scope at a time.
    const scope = `${ctx.path} ${key}`;
    for (let waiting = this.pending.get(scope); waiting !== undefined; waiting = this.pending.get(scope)) {
      await waiting.catch(() => undefined);
    }
    const first = deps.idempotency.get(ctx.path, key);
    if (first !== null) {
      deps.counters.duplicates++;
      return json(200, { ...(first as object), status: 'duplicate' });
    }
    const answer = this.trigger(ctx.path, body.text, key);
    this.pending.set(scope, answer);
    try {
      return await answer;
    } finally {
      this.pending.delete(scope);
    }
  };

  /** Whether the headers authenticate the delivery, or 'body' when a well-formed signature waits for the body. */
  private headerVerdict(req: IncomingMessage): boolean | 'body' {
    const deps = this.deps;
    switch (deps.auth) {
      case 'none':
        return true;
      case 'token':
        return bearerOk(req.headers.authorization, deps.token);
      case 'secret':
        return secretOk(req.headers['x-webhook-secret'], deps.secret);
      case 'hmac':
        // Without a secret nothing can be signed (fail closed), and a malformed header never verifies.
        return deps.secret !== '' && signatureOf(req.headers['x-hub-signature-256']) !== null ? 'body' : false;
    }
  }

  private unauthorized(): Reply {
    switch (this.deps.auth) {
      case 'secret':
        return error(401, 'unauthorized', 'a valid X-Webhook-Secret header is required');
      case 'hmac':
        return error(401, 'unauthorized', 'a valid X-Hub-Signature-256 header (sha256=<hex HMAC of the body>) is required');
      default:
        return error(401, 'unauthorized', 'a valid bearer token is required', {}, { 'www-authenticate': 'Bearer' });
    }
  }

  private async trigger(path: string, payload: string, key: string | null): Promise<Reply> {
    const deps = this.deps;
    const event: GatewayEvent = { source: 'webhook', topic: path, timestamp: isoTime(deps.clock.now()) };
    if (payload !== '') event.payload = payload;
    const { matched, results } = await deps.dispatch(event);
    if (matched.length === 0) return error(404, 'no_match', `no SOP has a webhook trigger for ${path}`);
    // Started together, so they could all be written or none; nothing to remember under the key.
    const unwritable = results.find((r): r is StorageUnavailable => !r.ok && r.reason === 'storage_unavailable');
    if (unwritable !== undefined && !results.some((r) => r.ok)) return storageUnavailable(unwritable);
    const answer: Accepted = { status: 'accepted', matched_sops: matched, runs: [], refused: [], path };
    results.forEach((r, i) => {
      if (r.ok) answer.runs.push(r.run);
      else answer.refused.push({ sop: matched[i]!, reason: r.reason, message: r.message });
    });
    if (key !== null && answer.runs.length > 0) await this.remember(path, key, answer);
    return json(202, answer);
  }

  /**
   * Stores the key before the answer goes out, so that a repeat after even a power cut is a
   * duplicate. The runs have started whatever happens here: a database error is logged, not answered.
   */
  private async remember(path: string, key: string, answer: Accepted): Promise<void> {
    const deps = this.deps;
    if (deps.ttlSecs <= 0) return;
    try {
      const now = deps.clock.now();
      if (now - this.lastPurge >= PURGE_EVERY_MS) {
        this.lastPurge = now;
        deps.idempotency.purgeExpired();
      }
      deps.idempotency.put(path, key, answer, deps.ttlSecs);
      await deps.idempotency.durable();
    } catch (err) {
      deps.logger.log('error', `cannot store idempotency key: ${errorMessage(err)}`);
    }
  }
}
