// Webhook triggers: `POST /sop/<rest>` and `POST /webhook` (DESIGN.md §5). The body is
// the payload; every SOP whose webhook trigger names the path starts, and the 202 answer
// says which runs started and which SOPs were refused and why (runs start before we
// answer, so the answer is true). `X-Idempotency-Key` makes a repeated delivery a
// duplicate: the key is stored in SQLite once a run started, so it survives a restart;
// a delivery that started nothing is not recorded and may be retried with the same key.
import type { Clock } from '../engine/clock.js';
import type { Engine } from '../engine/engine.js';
import type { Run, StorageUnavailable } from '../engine/types.js';
import type { GatewayEvent } from '../events.js';
import type { Logger } from '../log.js';
import type { Matcher } from '../match/matcher.js';
import type { IdempotencyStore } from '../store/idempotency.js';
import { bearerOk, hmacOk, secretOk } from './auth.js';
import type { RequestContext } from './context.js';
import { badRequest, error, json, storageUnavailable, type Reply } from './reply.js';
import type { HttpCounters } from './stats.js';
import { errorMessage } from '../errors.js';
import { isoTime } from '../time.js';

export type WebhookAuth = 'token' | 'secret' | 'hmac' | 'none';

export interface WebhookDeps {
  engine: Engine;
  matcher: () => Matcher;
  auth: WebhookAuth;
  token: string;
  secret: string;
  idempotency: IdempotencyStore;
  ttlSecs: number;
  clock: Clock;
  counters: HttpCounters;
  logger: Logger;
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
  private readonly d: WebhookDeps;
  /** Deliveries in progress per idempotency key: a concurrent repeat waits for the first. */
  private readonly pending = new Map<string, Promise<unknown>>();
  private lastPurge = -Infinity;

  constructor(deps: WebhookDeps) {
    this.d = deps;
  }

  readonly handle = async (ctx: RequestContext): Promise<Reply> => {
    const { req } = ctx;
    const d = this.d;
    // Header credentials are checked before the body is read; the HMAC needs the body.
    if (d.auth === 'token' && !bearerOk(req.headers.authorization, d.token)) {
      return error(401, 'unauthorized', 'a valid bearer token is required', {}, { 'www-authenticate': 'Bearer' });
    }
    if (d.auth === 'secret' && !secretOk(req.headers['x-webhook-secret'], d.secret)) {
      return error(401, 'unauthorized', 'a valid X-Webhook-Secret header is required');
    }
    const body = await ctx.body();
    if (!body.ok) return body.reply;
    if (d.auth === 'hmac' && !hmacOk(req.headers['x-hub-signature-256'], d.secret, body.raw)) {
      return error(401, 'unauthorized', 'a valid X-Hub-Signature-256 header (sha256=<hex HMAC of the body>) is required');
    }

    const key = req.headers['x-idempotency-key'];
    if (key === undefined) return this.trigger(ctx.path, body.text, null);
    if (typeof key !== 'string' || key === '' || key.length > MAX_KEY_LENGTH) {
      return badRequest(`X-Idempotency-Key must be one header of 1 to ${MAX_KEY_LENGTH} characters`);
    }
    // Check-and-claim happens without an await in between, so one delivery per key runs at a time.
    for (let waiting = this.pending.get(key); waiting !== undefined; waiting = this.pending.get(key)) {
      await waiting.catch(() => undefined);
    }
    const first = d.idempotency.get(key);
    if (first !== null) {
      d.counters.duplicates++;
      return json(200, { ...(first as object), status: 'duplicate' });
    }
    const answer = this.trigger(ctx.path, body.text, key);
    this.pending.set(key, answer);
    try {
      return await answer;
    } finally {
      this.pending.delete(key);
    }
  };

  private async trigger(path: string, payload: string, key: string | null): Promise<Reply> {
    const d = this.d;
    const event: GatewayEvent = { source: 'webhook', topic: path, timestamp: isoTime(d.clock.now()) };
    if (payload !== '') event.payload = payload;
    const matched = d.matcher().match(event);
    if (matched.length === 0) return error(404, 'no_match', `no SOP has a webhook trigger for ${path}`);

    // All started together: the engine checks limits in call order and writes them in one commit.
    const results = await Promise.all(matched.map((name) => d.engine.startRun(name, event)));
    // Started together, so they could all be written or none; nothing to remember under the key.
    const unwritable = results.find((r): r is StorageUnavailable => !r.ok && r.reason === 'storage_unavailable');
    if (unwritable !== undefined && !results.some((r) => r.ok)) return storageUnavailable(unwritable);
    const answer: Accepted = { status: 'accepted', matched_sops: matched, runs: [], refused: [], path };
    results.forEach((r, i) => {
      if (r.ok) answer.runs.push(r.run);
      else answer.refused.push({ sop: matched[i]!, reason: r.reason, message: r.message });
    });
    if (key !== null && answer.runs.length > 0) await this.remember(key, answer);
    return json(202, answer);
  }

  /**
   * Stores the key before the answer goes out, so that a repeat after even a power cut is a
   * duplicate. The runs have started whatever happens here: a database error is logged, not answered.
   */
  private async remember(key: string, answer: Accepted): Promise<void> {
    const d = this.d;
    if (d.ttlSecs <= 0) return;
    try {
      const now = d.clock.now();
      if (now - this.lastPurge >= PURGE_EVERY_MS) {
        this.lastPurge = now;
        d.idempotency.purgeExpired();
      }
      d.idempotency.put(key, answer, d.ttlSecs);
      await d.idempotency.durable();
    } catch (err) {
      d.logger.log('error', `cannot store idempotency key: ${errorMessage(err)}`);
    }
  }
}
