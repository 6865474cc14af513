// Webhook triggers over real sockets: auth modes, body limit, rate limit and idempotency
// keys that survive a restart of the HTTP API and the engine on the same SQLite file.
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildConfig, type GatewayConfig } from '../src/config/config.js';
import type { Run } from '../src/core/run.js';
import { HttpApi } from '../src/http/index.js';
import { hmacSignature } from './helpers/http.js';
import { memoryLogger } from './helpers/logger.js';
import { Dispatcher } from '../src/dispatch/dispatcher.js';
import { Matcher } from '../src/match/matcher.js';
import type { SopDefinition } from '../src/sop/types.js';
import { IdempotencyStore } from '../src/store/idempotency.js';
import { builtin, harness, settle, sop, type EngineHarness } from './helpers/engine.js';
import { TOKEN } from './helpers/http.js';
import { withTimeout } from './helpers/process.js';
import { removeTree, tempDir } from './helpers/workspace.js';

const AUTH = { authorization: `Bearer ${TOKEN}` };
const SECRET = 'shared-secret';

let dir: string;
let n = 0;
before(async () => {
  dir = await tempDir('sopgate-http-webhook-');
});
after(() => removeTree(dir));

function hooked(name: string, path: string, options: Parameters<typeof sop>[1] = {}): SopDefinition {
  return sop(name, { mode: 'supervised', maxConcurrent: 10, steps: [builtin(1)], ...options, triggers: [{ type: 'webhook', path }] });
}

interface Gateway {
  h: EngineHarness;
  api: HttpApi;
  base: string;
  port: number;
  close(): Promise<void>;
}

async function serve(h: EngineHarness, sops: SopDefinition[], http: Partial<GatewayConfig['http']>): Promise<Gateway> {
  const defaults = buildConfig('', null, dir);
  assert.ok(defaults.ok);
  const api = new HttpApi({
    engine: h.engine,
    sops: () => sops,
    dispatcher: new Dispatcher({ matcher: () => Matcher.build(sops), engine: h.engine, logger: memoryLogger() }),
    http: { ...defaults.config.http, rate_limit_per_minute: 0, ...http },
    token: TOKEN,
    idempotency: new IdempotencyStore(h.store.db, h.clock),
    clock: h.clock,
    logger: memoryLogger(),
    metrics: () => '',
  });
  const { port } = await api.start('127.0.0.1:0');
  return { h, api, port, base: `http://127.0.0.1:${port}`, close: () => api.stop() };
}

async function gateway(sops: SopDefinition[], http: Partial<GatewayConfig['http']> = {}): Promise<Gateway & { folder: string }> {
  const folder = join(dir, `g${++n}`);
  await mkdir(folder);
  const h = harness(folder, sops);
  const g = await serve(h, sops, http);
  return {
    ...g,
    folder,
    async close() {
      await g.api.stop();
      h.close();
    },
  };
}

async function post(g: Gateway, path: string, body: string, headers: Record<string, string> = AUTH) {
  const res = await fetch(`${g.base}${path}`, { method: 'POST', headers, body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: JSON.parse(text) as any };
}

/** A POST through node:http on its own socket: the status, and whether the server closed the socket. */
function rawPost(port: number, path: string, headers: Record<string, string | number>, write: (req: ReturnType<typeof request>) => void) {
  const answered = new Promise<{ status: number; connection: string | undefined; closed: boolean }>((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', headers, agent: false });
    req.on('error', () => undefined); // the server may close while we are still writing
    req.on('response', (res) => {
      res.resume();
      const socket = res.socket;
      const done = () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, closed: true });
      if (socket.destroyed) done();
      else socket.once('close', done);
    });
    write(req);
  });
  return withTimeout(answered, 5_000, 'the server to answer and close the connection (it was left hanging)');
}

describe('webhook triggers', () => {
  test('POST /sop/<rest> starts every matching SOP: 202 with matched_sops, runs, refused and path', async () => {
    const sops = [hooked('one', '/sop/deploy'), hooked('two', '/sop/deploy'), hooked('other', '/sop/else')];
    const g = await gateway(sops);
    try {
      const res = await post(g, '/sop/deploy?ignored=1', '{"ref":"main"}');
      assert.equal(res.status, 202);
      assert.equal(res.json.status, 'accepted');
      assert.deepEqual(res.json.matched_sops, ['one', 'two']);
      assert.equal(res.json.path, '/sop/deploy');
      assert.deepEqual(res.json.refused, []);
      const runs = res.json.runs as Run[];
      assert.deepEqual(runs.map((r) => r.sop_name), ['one', 'two']);
      assert.deepEqual(runs[0]!.trigger_event, { source: 'webhook', topic: '/sop/deploy', payload: '{"ref":"main"}', timestamp: '2026-01-01T00:00:00.000Z' });
      assert.equal(g.h.engine.getRun(runs[1]!.run_id)?.status, 'waiting_approval', 'the runs exist when we answer');
    } finally {
      await g.close();
    }
  });

  test('POST /webhook works too; a path no SOP names answers 404 no_match', async () => {
    const g = await gateway([hooked('generic', '/webhook')]);
    try {
      const res = await post(g, '/webhook', '');
      assert.equal(res.status, 202);
      assert.deepEqual(res.json.matched_sops, ['generic']);
      assert.equal(res.json.runs[0].trigger_event.payload, null);
      const none = await post(g, '/sop/nothing', 'x');
      assert.equal(none.status, 404);
      assert.equal(none.json.error, 'no_match');
    } finally {
      await g.close();
    }
  });

  test('refused SOPs are listed with their reason', async () => {
    const sops = [hooked('busy', '/sop/x', { maxConcurrent: 1 }), hooked('free', '/sop/x')];
    const g = await gateway(sops);
    try {
      assert.equal((await post(g, '/sop/x', '1')).json.runs.length, 2);
      const res = await post(g, '/sop/x', '2');
      assert.equal(res.status, 202);
      assert.deepEqual(res.json.runs.map((r: Run) => r.sop_name), ['free']);
      assert.equal(res.json.refused.length, 1);
      assert.equal(res.json.refused[0].sop, 'busy');
      assert.equal(res.json.refused[0].reason, 'concurrency');
      assert.equal(typeof res.json.refused[0].message, 'string');
    } finally {
      await g.close();
    }
  });
});

describe('webhook authentication', () => {
  test('token (default): missing or wrong bearer token → 401', async () => {
    const g = await gateway([hooked('a', '/sop/a')]);
    try {
      const missing = await post(g, '/sop/a', 'x', {});
      assert.equal(missing.status, 401);
      assert.equal(missing.headers.get('www-authenticate'), 'Bearer');
      assert.equal((await post(g, '/sop/a', 'x', { authorization: 'Bearer nope' })).status, 401);
      assert.equal((await post(g, '/sop/a', 'x')).status, 202);
      assert.equal(g.h.engine.listRuns().length, 1);
    } finally {
      await g.close();
    }
  });

  test('secret: X-Webhook-Secret must equal webhook_secret; the bearer token alone is not enough', async () => {
    const g = await gateway([hooked('a', '/sop/a')], { webhook_auth: 'secret', webhook_secret: SECRET });
    try {
      assert.equal((await post(g, '/sop/a', 'x', {})).status, 401);
      assert.equal((await post(g, '/sop/a', 'x', { 'x-webhook-secret': 'wrong' })).status, 401);
      assert.equal((await post(g, '/sop/a', 'x', AUTH)).status, 401);
      assert.equal((await post(g, '/sop/a', 'x', { 'x-webhook-secret': SECRET })).status, 202);
    } finally {
      await g.close();
    }
  });

  test('hmac: X-Hub-Signature-256 over the raw body; a bad, missing or other-body signature → 401', async () => {
    const g = await gateway([hooked('a', '/sop/a')], { webhook_auth: 'hmac', webhook_secret: SECRET });
    try {
      const body = '{"action":"push","x":"é"}';
      const good = hmacSignature(SECRET, body);
      assert.match(good, /^sha256=[0-9a-f]{64}$/);
      assert.equal((await post(g, '/sop/a', body, { 'x-hub-signature-256': good })).status, 202);
      assert.equal((await post(g, '/sop/a', body, { 'x-hub-signature-256': good.toUpperCase().replace('SHA256', 'sha256') })).status, 202);
      assert.equal((await post(g, '/sop/a', body, {})).status, 401);
      assert.equal((await post(g, '/sop/a', body, { 'x-hub-signature-256': hmacSignature('other', body) })).status, 401);
      assert.equal((await post(g, '/sop/a', `${body} `, { 'x-hub-signature-256': good })).status, 401);
      assert.equal((await post(g, '/sop/a', body, { 'x-hub-signature-256': good.slice(7) })).status, 401);
      assert.equal(g.h.engine.listRuns().length, 2);
    } finally {
      await g.close();
    }
  });

  test('hmac with an empty webhook_secret refuses everything (fail closed)', async () => {
    const g = await gateway([hooked('a', '/sop/a')], { webhook_auth: 'hmac', webhook_secret: '' });
    try {
      assert.equal((await post(g, '/sop/a', 'x', { 'x-hub-signature-256': hmacSignature('', 'x') })).status, 401);
    } finally {
      await g.close();
    }
  });

  test('none: no credentials needed', async () => {
    const g = await gateway([hooked('a', '/sop/a')], { webhook_auth: 'none' });
    try {
      assert.equal((await post(g, '/sop/a', 'x', {})).status, 202);
    } finally {
      await g.close();
    }
  });
});

describe('limits', () => {
  test('a declared Content-Length over max_body_bytes → 413 and the connection is closed', async () => {
    const g = await gateway([hooked('a', '/sop/a')], { max_body_bytes: 1024 });
    try {
      const body = Buffer.alloc(4096, 'x');
      const res = await rawPost(g.port, '/sop/a', { ...AUTH, 'content-length': body.length }, (req) => req.end(body));
      assert.deepEqual(res, { status: 413, connection: 'close', closed: true });
      assert.equal(g.h.engine.listRuns().length, 0);
    } finally {
      await g.close();
    }
  });

  test('a chunked body that grows past the limit → 413 and the connection is closed, never left hanging', async () => {
    const g = await gateway([hooked('a', '/sop/a')], { max_body_bytes: 1024 });
    try {
      let writing = true;
      const res = await rawPost(g.port, '/sop/a', { ...AUTH, 'transfer-encoding': 'chunked' }, (req) => {
        const pump = (): void => {
          if (!writing || req.destroyed) return;
          req.write(Buffer.alloc(256, 'y'), () => setImmediate(pump));
        };
        pump();
      });
      writing = false;
      assert.deepEqual(res, { status: 413, connection: 'close', closed: true });
      assert.equal(g.h.engine.listRuns().length, 0);
      assert.equal((await post(g, '/sop/a', 'small')).status, 202, 'the server carries on');
    } finally {
      await g.close();
    }
  });

  test('a refused request whose body is still arriving is answered and its connection closed', async () => {
    const g = await gateway([hooked('a', '/sop/a')]);
    try {
      let writing = true;
      const res = await rawPost(g.port, '/sop/a', { authorization: 'Bearer wrong', 'transfer-encoding': 'chunked' }, (req) => {
        const pump = (): void => {
          if (writing && !req.destroyed) req.write(Buffer.alloc(256, 'z'), () => setImmediate(pump));
        };
        pump();
      });
      writing = false;
      assert.deepEqual(res, { status: 401, connection: 'close', closed: true });
    } finally {
      await g.close();
    }
  });

  test('rate limit per client: 429 with Retry-After; the clock refills it; refused deliveries spend a bucket of their own', async () => {
    const g = await gateway([hooked('a', '/sop/a')], { rate_limit_per_minute: 2 });
    try {
      assert.equal((await post(g, '/sop/a', '1')).status, 202);
      assert.equal((await post(g, '/sop/a', '2', {})).status, 401);
      assert.equal((await post(g, '/sop/a', '2', {})).status, 401);
      assert.equal((await post(g, '/sop/a', '2', {})).status, 429, 'refused deliveries are limited too');
      assert.equal((await post(g, '/sop/a', '3')).status, 202, 'but they never spent the holder\'s bucket');
      const limited = await post(g, '/sop/a', '3');
      assert.equal(limited.status, 429);
      assert.equal(limited.headers.get('retry-after'), '30');
      assert.equal(limited.json.retry_after_secs, 30);
      g.h.clock.advance(29_000);
      assert.equal((await post(g, '/sop/a', '4')).status, 429);
      assert.equal((await post(g, '/sop/a', '4')).headers.get('retry-after'), '1');
      g.h.clock.advance(1_000);
      assert.equal((await post(g, '/sop/a', '5')).status, 202);
    } finally {
      await g.close();
    }
  });

  test('hmac: deliveries with a wrong signature never spend the bucket of the right one', async () => {
    const g = await gateway([hooked('a', '/sop/a')], { webhook_auth: 'hmac', webhook_secret: SECRET, rate_limit_per_minute: 2 });
    try {
      const wrong = { 'x-hub-signature-256': hmacSignature('not the secret', 'p') };
      assert.equal((await post(g, '/sop/a', 'p', wrong)).status, 401);
      assert.equal((await post(g, '/sop/a', 'p', {})).status, 401, 'no signature at all');
      assert.equal((await post(g, '/sop/a', 'p', wrong)).status, 429);
      for (let i = 0; i < 2; i++) assert.equal((await post(g, '/sop/a', 'p', { 'x-hub-signature-256': hmacSignature(SECRET, 'p') })).status, 202);
    } finally {
      await g.close();
    }
  });
});

describe('idempotency keys', () => {
  test('a repeated key answers 200 duplicate with the first answer and starts nothing', async () => {
    const g = await gateway([hooked('a', '/sop/a')]);
    try {
      const key = { ...AUTH, 'x-idempotency-key': 'delivery-1' };
      const first = await post(g, '/sop/a', 'p', key);
      assert.equal(first.status, 202);
      const again = await post(g, '/sop/a', 'p', key);
      assert.equal(again.status, 200);
      assert.deepEqual(again.json, { ...first.json, status: 'duplicate' });
      assert.equal(g.h.engine.listRuns().length, 1);
      assert.equal((await post(g, '/sop/a', 'p', { ...AUTH, 'x-idempotency-key': 'delivery-2' })).status, 202);
      assert.equal(g.api.stats().duplicates, 1);
      assert.equal((await post(g, '/sop/a', 'p', { ...AUTH, 'x-idempotency-key': 'k'.repeat(201) })).status, 400);
    } finally {
      await g.close();
    }
  });

  test('two X-Idempotency-Key headers answer 400 and start nothing; they are not joined into one key', async () => {
    const g = await gateway([hooked('a', '/sop/a')]);
    try {
      const twice = await new Promise<{ status: number; body: any }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: g.port, path: '/sop/a', method: 'POST', headers: { ...AUTH, 'x-idempotency-key': ['k1', 'k2'] } });
        req.on('error', reject);
        req.on('response', (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
        });
        req.end('p');
      });
      assert.equal(twice.status, 400);
      assert.equal(twice.body.error, 'bad_request');
      assert.match(twice.body.message, /X-Idempotency-Key is sent 2 times/);
      assert.equal(g.h.engine.listRuns().length, 0);
      assert.equal((await post(g, '/sop/a', 'p', { ...AUTH, 'x-idempotency-key': 'k1, k2' })).status, 202, 'no key was recorded');
    } finally {
      await g.close();
    }
  });

  test('only accepted requests record a key: after a 404, a 401 or an all-refused delivery the key is still free', async () => {
    const g = await gateway([hooked('a', '/sop/a', { maxConcurrent: 1 })]);
    try {
      const key = { ...AUTH, 'x-idempotency-key': 'k1' };
      assert.equal((await post(g, '/sop/none', 'p', key)).status, 404);
      assert.equal((await post(g, '/sop/a', 'p', { 'x-idempotency-key': 'k1' })).status, 401);
      assert.equal((await post(g, '/sop/a', 'p', key)).status, 202);
      // 'a' is now busy: the next delivery starts nothing, so its key is not recorded.
      const refused = await post(g, '/sop/a', 'p', { ...AUTH, 'x-idempotency-key': 'k2' });
      assert.equal(refused.status, 202);
      assert.equal(refused.json.runs.length, 0);
      await post(g, `/api/runs/${g.h.engine.listRuns()[0]!.run_id}/cancel`, '');
      assert.equal((await post(g, '/sop/a', 'p', { ...AUTH, 'x-idempotency-key': 'k2' })).status, 202);
    } finally {
      await g.close();
    }
  });

  test('a key expires after idempotency_ttl_secs', async () => {
    const g = await gateway([hooked('a', '/sop/a')], { idempotency_ttl_secs: 60 });
    try {
      const key = { ...AUTH, 'x-idempotency-key': 'k' };
      assert.equal((await post(g, '/sop/a', 'p', key)).status, 202);
      g.h.clock.advance(59_999);
      assert.equal((await post(g, '/sop/a', 'p', key)).status, 200);
      g.h.clock.advance(1);
      assert.equal((await post(g, '/sop/a', 'p', key)).status, 202);
    } finally {
      await g.close();
    }
  });

  test('concurrent deliveries with one key start one run', async () => {
    const g = await gateway([hooked('a', '/sop/a')]);
    try {
      const key = { ...AUTH, 'x-idempotency-key': 'same' };
      const answers = await Promise.all([1, 2, 3].map(() => post(g, '/sop/a', 'p', key)));
      assert.deepEqual(answers.map((a) => a.status).sort(), [200, 200, 202]);
      assert.equal(g.h.engine.listRuns().length, 1);
    } finally {
      await g.close();
    }
  });

  test('IdempotencyStore: get/put per path and key with a TTL, expired keys read as null and are purged', async () => {
    const g = await gateway([]);
    try {
      const store = new IdempotencyStore(g.h.store.db, g.h.clock);
      assert.equal(store.get('/sop/a', 'k'), null);
      store.put('/sop/a', 'k', { status: 'accepted', runs: [1] }, 10);
      store.put('/sop/a', 'long', 'kept', 100);
      assert.deepEqual(store.get('/sop/a', 'k'), { status: 'accepted', runs: [1] });
      assert.equal(store.get('/sop/b', 'k'), null, 'the same key on another path is another key');
      store.put('/sop/b', 'k', 'other', 10);
      assert.deepEqual(store.get('/sop/a', 'k'), { status: 'accepted', runs: [1] });
      g.h.clock.advance(10_000);
      assert.equal(store.get('/sop/a', 'k'), null);
      assert.equal(store.purgeExpired(), 2);
      assert.equal(store.get('/sop/a', 'long'), 'kept');
    } finally {
      await g.close();
    }
  });

  test('a key is scoped to its path: the same key on another path starts that path\'s runs and shows only them', async () => {
    const g = await gateway([hooked('hook', '/sop/hook'), hooked('shell', '/sop/shell')]);
    try {
      const key = { ...AUTH, 'x-idempotency-key': 'delivery-7' };
      const hook = await post(g, '/sop/hook', 'to hook', key);
      assert.equal(hook.status, 202);
      const shell = await post(g, '/sop/shell', 'to shell', key);
      assert.equal(shell.status, 202, 'not a duplicate of the /sop/hook delivery');
      assert.deepEqual(shell.json.matched_sops, ['shell']);
      assert.equal(shell.json.runs[0].trigger_event.payload, 'to shell');
      const again = await post(g, '/sop/shell', 'to shell', key);
      assert.equal(again.status, 200);
      assert.deepEqual(again.json, { ...shell.json, status: 'duplicate' });
      assert.deepEqual((await post(g, '/sop/hook', 'to hook', key)).json, { ...hook.json, status: 'duplicate' });
      assert.equal(g.h.engine.listRuns().length, 2);
    } finally {
      await g.close();
    }
  });

  test('a duplicate after a restart of the HTTP API and the engine on the same SQLite file is still a duplicate', async () => {
    const sops = [hooked('a', '/sop/a')];
    const g = await gateway(sops);
    const key = { ...AUTH, 'x-idempotency-key': 'before-restart' };
    const first = await post(g, '/sop/a', 'p', key);
    assert.equal(first.status, 202);
    await g.api.stop();
    const h2 = g.h.reopen();
    const g2 = await serve(h2, sops, {});
    try {
      await settle();
      const again = await post(g2, '/sop/a', 'p', key);
      assert.equal(again.status, 200);
      assert.equal(again.json.status, 'duplicate');
      assert.deepEqual(again.json.runs.map((r: Run) => r.run_id), first.json.runs.map((r: Run) => r.run_id));
      assert.equal(h2.engine.listRuns().length, 1);
    } finally {
      await g2.close();
      h2.close();
    }
  });
});
