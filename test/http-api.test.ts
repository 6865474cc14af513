// The /api/* endpoints, /healthz, /metrics and the listener's lifecycle, with fetch
// against a real node:http server on port 0 and a real engine on a temp SQLite file.
import assert from 'node:assert/strict';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildConfig, type GatewayConfig } from '../src/config/config.js';
import type { Run } from '../src/core/run.js';
import { HttpApi, loadApiToken } from '../src/http/index.js';
import { memoryLogger } from './helpers/logger.js';
import { Dispatcher } from '../src/dispatch/dispatcher.js';
import { Matcher } from '../src/match/matcher.js';
import type { SopDefinition } from '../src/sop/types.js';
import { IdempotencyStore } from '../src/store/idempotency.js';
import { builtin, harness, settle, sop, step, TestExecutor, type EngineHarness } from './helpers/engine.js';
import { TOKEN } from './helpers/http.js';
import { removeTree, tempDir } from './helpers/workspace.js';

const AUTH = { authorization: `Bearer ${TOKEN}` };

let dir: string;
let n = 0;
before(async () => {
  dir = await tempDir('sopgate-http-api-');
});
after(() => removeTree(dir));

interface Gateway {
  h: EngineHarness;
  api: HttpApi;
  base: string;
  port: number;
  logger: ReturnType<typeof memoryLogger>;
  close(): Promise<void>;
}

async function gateway(
  sops: SopDefinition[],
  options: { http?: Partial<GatewayConfig['http']>; executor?: TestExecutor; reload?: () => Promise<{ ok: boolean; loaded: number; errors: number }>; metrics?: () => string } = {},
): Promise<Gateway> {
  const sub = join(dir, `g${++n}`);
  await mkdir(sub);
  const h = harness(sub, sops, options.executor === undefined ? {} : { executor: options.executor });
  const defaults = buildConfig('', null, sub);
  assert.ok(defaults.ok);
  const logger = memoryLogger();
  const deps: ConstructorParameters<typeof HttpApi>[0] = {
    engine: h.engine,
    sops: () => sops,
    dispatcher: new Dispatcher({ matcher: () => Matcher.build(sops), engine: h.engine, logger: memoryLogger() }),
    http: { ...defaults.config.http, rate_limit_per_minute: 0, ...options.http },
    token: TOKEN,
    idempotency: new IdempotencyStore(h.store.db, h.clock),
    clock: h.clock,
    logger,
    metrics: options.metrics ?? (() => '# TYPE sopgate_up gauge\nsopgate_up 1\n'),
  };
  if (options.reload !== undefined) deps.reload = options.reload;
  const api = new HttpApi(deps);
  const { port } = await api.start('127.0.0.1:0');
  return {
    h,
    api,
    port,
    base: `http://127.0.0.1:${port}`,
    logger,
    async close() {
      await api.stop();
      h.close();
    },
  };
}

async function call(g: Gateway, method: string, path: string, body?: string, headers: Record<string, string> = AUTH) {
  const res = await fetch(`${g.base}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  return { status: res.status, headers: res.headers, text, json: type.startsWith('application/json') ? (JSON.parse(text) as any) : undefined };
}

const manualSop = (name: string, options: Parameters<typeof sop>[1] = {}) => sop(name, { mode: 'supervised', steps: [builtin(1), step(2)], ...options });
const webhookOnly = sop('hook-only', { triggers: [{ type: 'webhook', path: '/sop/hook' }] });

describe('open endpoints', () => {
  test('GET /healthz and GET /metrics need no token', async () => {
    const g = await gateway([]);
    try {
      const health = await call(g, 'GET', '/healthz', undefined, {});
      assert.equal(health.status, 200);
      assert.deepEqual(health.json, { status: 'ok' });
      const metrics = await call(g, 'GET', '/metrics', undefined, {});
      assert.equal(metrics.status, 200);
      assert.equal(metrics.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
      assert.match(metrics.text, /^sopgate_up 1$/m);
      const head = await fetch(`${g.base}/healthz`, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(await head.text(), '');
    } finally {
      await g.close();
    }
  });

  test('unknown path 404, wrong method 405 with Allow, bad escapes 400', async () => {
    const g = await gateway([manualSop('a')]);
    try {
      const missing = await call(g, 'GET', '/nope');
      assert.equal(missing.status, 404);
      assert.equal(missing.json.error, 'not_found');
      assert.equal((await call(g, 'GET', '/api/nope')).status, 404);
      const wrong = await call(g, 'POST', '/healthz');
      assert.equal(wrong.status, 405);
      assert.equal(wrong.headers.get('allow'), 'GET, HEAD');
      assert.equal(wrong.json.error, 'method_not_allowed');
      const wrongApi = await call(g, 'DELETE', '/api/runs/x');
      assert.equal(wrongApi.status, 405);
      assert.equal(wrongApi.headers.get('allow'), 'GET, HEAD');
      assert.equal((await call(g, 'GET', '/webhook')).headers.get('allow'), 'POST');
      assert.equal((await call(g, 'GET', '/api/sops/%E0%A4%A')).status, 400);
    } finally {
      await g.close();
    }
  });

  test('a handler that throws answers 500 with a generic message, logs it, and the server carries on', async () => {
    const g = await gateway([], { metrics: () => { throw new Error('secret detail'); } });
    try {
      const res = await call(g, 'GET', '/metrics', undefined, {});
      assert.equal(res.status, 500);
      assert.equal(res.json.error, 'internal');
      assert.doesNotMatch(res.text, /secret detail/);
      assert.ok(g.logger.lines.some((l) => l.startsWith('error [http]') && l.includes('secret detail')));
      assert.equal((await call(g, 'GET', '/healthz', undefined, {})).status, 200);
      assert.ok(g.logger.lines.some((l) => l.startsWith('warn [http] GET /metrics 500')));
      assert.ok(g.logger.lines.some((l) => l.startsWith('debug [http] GET /healthz 200')));
    } finally {
      await g.close();
    }
  });
});

describe('bearer token on /api/*', () => {
  test('missing or wrong token → 401 with WWW-Authenticate: Bearer; the right one passes', async () => {
    const g = await gateway([manualSop('a')]);
    try {
      for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: `Basic ${TOKEN}` }, { authorization: `Bearer ${TOKEN}x` }]) {
        const res = await call(g, 'GET', '/api/sops', undefined, headers);
        assert.equal(res.status, 401);
        assert.equal(res.headers.get('www-authenticate'), 'Bearer');
        assert.equal(res.json.error, 'unauthorized');
      }
      assert.equal((await call(g, 'GET', '/api/sops', undefined, { authorization: `bearer ${TOKEN}` })).status, 200);
      assert.equal(g.logger.lines.filter((l) => l.startsWith('info [http] GET /api/sops 401')).length, 4);
    } finally {
      await g.close();
    }
  });

  test('the rate limit applies per client: 429 with Retry-After, then the bucket refills', async () => {
    const g = await gateway([manualSop('a')], { http: { rate_limit_per_minute: 3 } });
    try {
      for (let i = 0; i < 3; i++) assert.equal((await call(g, 'GET', '/api/sops')).status, 200);
      const limited = await call(g, 'GET', '/api/sops');
      assert.equal(limited.status, 429);
      assert.equal(limited.headers.get('retry-after'), '20');
      assert.equal(limited.json.error, 'rate_limited');
      assert.equal((await call(g, 'GET', '/api/sops', undefined, {})).status, 401, 'a request without the token spends a bucket of its own');
      assert.equal((await call(g, 'GET', '/healthz', undefined, {})).status, 200, 'healthz is not limited');
      g.h.clock.advance(20_000);
      assert.equal((await call(g, 'GET', '/api/sops')).status, 200);
      assert.equal(g.api.stats().rateLimited, 1);
    } finally {
      await g.close();
    }
  });

  test('requests that fail authentication count apart: 60 bad tokens from the holder\'s address never 429 the holder', async () => {
    const g = await gateway([manualSop('a')], { http: { rate_limit_per_minute: 60 } });
    try {
      for (let i = 0; i < 60; i++) assert.equal((await call(g, 'GET', '/api/sops', undefined, { authorization: 'Bearer guess' })).status, 401);
      const flooded = await call(g, 'GET', '/api/runs', undefined, {});
      assert.equal(flooded.status, 429, 'the 61st bad request in a minute is limited');
      assert.equal(flooded.headers.get('retry-after'), '1');
      for (let i = 0; i < 60; i++) assert.equal((await call(g, 'GET', '/api/sops')).status, 200, `the holder's request ${i + 1}`);
      assert.equal((await call(g, 'GET', '/api/sops')).status, 429, 'the holder has a full minute of its own');
      g.h.clock.advance(1_000);
      assert.equal((await call(g, 'GET', '/api/sops', undefined, {})).status, 401, 'each bucket refills on its own');
      assert.equal(g.api.stats().rateLimited, 2);
    } finally {
      await g.close();
    }
  });
});

describe('SOP definitions', () => {
  test('GET /api/sops lists SOP objects; GET /api/sops/<name> shows one or 404', async () => {
    const g = await gateway([manualSop('a'), webhookOnly]);
    try {
      const list = await call(g, 'GET', '/api/sops');
      assert.equal(list.status, 200);
      assert.deepEqual(list.json.map((s: { name: string }) => s.name), ['a', 'hook-only']);
      const one = await call(g, 'GET', '/api/sops/a');
      assert.equal(one.status, 200);
      assert.equal(one.json.name, 'a');
      assert.equal(one.json.execution_mode, 'supervised');
      assert.deepEqual(one.json.steps.map((s: { number: number }) => s.number), [1, 2]);
      const missing = await call(g, 'GET', '/api/sops/zzz');
      assert.equal(missing.status, 404);
      assert.equal(missing.json.error, 'not_found');
    } finally {
      await g.close();
    }
  });
});

describe('POST /api/sops/<name>/execute', () => {
  test('a manual SOP starts: 201 with the run object and its payload', async () => {
    const g = await gateway([manualSop('a')]);
    try {
      const res = await call(g, 'POST', '/api/sops/a/execute', '{"why":"test"}');
      assert.equal(res.status, 201);
      const run = res.json as Run;
      assert.equal(run.sop_name, 'a');
      assert.equal(run.status, 'waiting_approval');
      assert.deepEqual(run.trigger_event, { source: 'manual', topic: 'a', payload: '{"why":"test"}', timestamp: '2026-01-01T00:00:00.000Z' });
      assert.equal(res.headers.get('location'), `/api/runs/${run.run_id}`);
      assert.equal(g.h.engine.getRun(run.run_id)?.status, 'waiting_approval');
    } finally {
      await g.close();
    }
  });

  test('404 unknown SOP, 422 without a manual trigger, 409 concurrency and cooldown with retry_after_secs', async () => {
    const g = await gateway([manualSop('a'), webhookOnly, sop('cool', { cooldown: 90, steps: [builtin(1)] })]);
    try {
      assert.equal((await call(g, 'POST', '/api/sops/zzz/execute')).status, 404);
      const noManual = await call(g, 'POST', '/api/sops/hook-only/execute');
      assert.equal(noManual.status, 422);
      assert.equal(noManual.json.error, 'no_manual_trigger');

      assert.equal((await call(g, 'POST', '/api/sops/a/execute')).status, 201);
      const busy = await call(g, 'POST', '/api/sops/a/execute');
      assert.equal(busy.status, 409);
      assert.equal(busy.json.error, 'concurrency');
      assert.equal(typeof busy.json.message, 'string');

      assert.equal((await call(g, 'POST', '/api/sops/cool/execute')).status, 201);
      await settle();
      g.h.clock.advance(30_000);
      const cooling = await call(g, 'POST', '/api/sops/cool/execute');
      assert.equal(cooling.status, 409);
      assert.equal(cooling.json.error, 'cooldown');
      assert.equal(cooling.json.retry_after_secs, 60);
      assert.equal(cooling.headers.get('retry-after'), '60');
    } finally {
      await g.close();
    }
  });

  test('a body over max_body_bytes is refused with 413', async () => {
    const g = await gateway([manualSop('a')], { http: { max_body_bytes: 16 } });
    try {
      const res = await call(g, 'POST', '/api/sops/a/execute', 'x'.repeat(17));
      assert.equal(res.status, 413);
      assert.equal(res.json.error, 'payload_too_large');
      assert.equal(res.headers.get('connection'), 'close');
      assert.equal(g.h.engine.listRuns().length, 0);
    } finally {
      await g.close();
    }
  });
});

describe('runs', () => {
  test('GET /api/runs with filters, GET /api/runs/<id>, 404 and 400', async () => {
    const g = await gateway([manualSop('a', { maxConcurrent: 5 }), manualSop('b')]);
    try {
      const ids: string[] = [];
      for (const name of ['a', 'a', 'b']) ids.push((await call(g, 'POST', `/api/sops/${name}/execute`)).json.run_id);
      await call(g, 'POST', `/api/runs/${ids[0]}/cancel`);
      const all = await call(g, 'GET', '/api/runs');
      assert.equal(all.status, 200);
      assert.deepEqual(all.json.map((r: Run) => r.run_id), [...ids].reverse(), 'newest first');
      assert.deepEqual((await call(g, 'GET', '/api/runs?sop=a')).json.map((r: Run) => r.run_id), [ids[1], ids[0]]);
      assert.deepEqual((await call(g, 'GET', '/api/runs?status=cancelled')).json.map((r: Run) => r.run_id), [ids[0]]);
      assert.equal((await call(g, 'GET', '/api/runs?limit=1')).json.length, 1);
      assert.equal((await call(g, 'GET', '/api/runs?status=bogus')).status, 400);
      assert.equal((await call(g, 'GET', '/api/runs?limit=0')).status, 400);
      assert.equal((await call(g, 'GET', '/api/runs?limit=ten')).status, 400);
      const one = await call(g, 'GET', `/api/runs/${ids[2]}`);
      assert.equal(one.status, 200);
      assert.equal(one.json.sop_name, 'b');
      assert.equal((await call(g, 'GET', '/api/runs/no-such-run')).status, 404);
    } finally {
      await g.close();
    }
  });

  test('GET /api/runs answers previews: 64 KiB payloads and outputs cut to 256 bytes and flagged; GET /api/runs/<id> has them whole', async () => {
    const executor = new TestExecutor();
    const noisy = sop('noisy', { maxConcurrent: 50, steps: [builtin(1)] });
    const held = manualSop('held');
    const g = await gateway([noisy, held], { executor });
    try {
      // Four-byte characters first (a cut must not split one), control bytes after.
      const payload = `${'😀'.repeat(300)}${'\x1b[31m\x00'.repeat(10_000)}`.slice(0, 60_000);
      const output = `${'o'.repeat(300)}\x00\x07`.repeat(200);
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) {
        executor.script.push({ status: 'failed', output });
        ids.push((await call(g, 'POST', '/api/sops/noisy/execute', payload)).json.run_id);
      }
      const waiting = (await call(g, 'POST', '/api/sops/held/execute', payload)).json.run_id as string;
      await settle();

      const list = await call(g, 'GET', '/api/runs?limit=1000');
      assert.equal(list.status, 200);
      assert.equal(list.json.length, 21);
      const bytes = Buffer.byteLength(list.text);
      assert.ok(bytes < 21 * 4096, `the list is ${bytes} bytes: at most a preview per run`);
      for (const run of list.json) {
        assert.equal(run.trigger_event.payload, '😀'.repeat(64), `${run.run_id}: the payload's first 256 bytes`);
        assert.equal(run.trigger_event.payload_truncated, true);
        assert.equal('topic_truncated' in run.trigger_event, false, 'a field that fits is not flagged');
      }
      const failed = list.json.filter((r: Run) => r.status === 'failed');
      assert.equal(failed.length, 20);
      for (const run of failed) {
        assert.equal(run.step_results[0].output, output.slice(0, 256));
        assert.equal(run.step_results[0].output_truncated, true);
        assert.ok(Buffer.byteLength(run.reason) <= 256);
      }
      assert.equal(list.json[0].run_id, waiting, 'the active run, read from memory, is cut the same way');

      for (const id of [ids[0]!, waiting]) {
        const one = await call(g, 'GET', `/api/runs/${id}`);
        assert.equal(one.json.trigger_event.payload, payload, 'one run has its full payload');
        assert.equal('payload_truncated' in one.json.trigger_event, false);
      }
      assert.equal((await call(g, 'GET', `/api/runs/${ids[0]}`)).json.step_results[0].output, output);
    } finally {
      await g.close();
    }
  });

  test('limit reads the same on /api/runs and /api/ledger: decimal digits from 1 to 1000, given once; anything else a 400 naming it', async () => {
    const g = await gateway([manualSop('a')]);
    try {
      await call(g, 'POST', '/api/sops/a/execute');
      for (const path of ['/api/runs', '/api/ledger']) {
        for (const good of ['1', '1000', '007']) {
          const res = await call(g, 'GET', `${path}?limit=${good}`);
          assert.equal(res.status, 200, `${path}?limit=${good}`);
          assert.equal(res.json.length, good === '1' ? 1 : path === '/api/runs' ? 1 : 2);
        }
        for (const bad of ['0x10', '1e3', '%2B5', '%205', '5.0', '-1', '0', '1001', '', '99999999999999999999', '1&limit=2', 'ten']) {
          const res = await call(g, 'GET', `${path}?limit=${bad}`);
          assert.equal(res.status, 400, `${path}?limit=${bad}`);
          assert.equal(res.json.error, 'bad_request');
          assert.match(res.json.message, /^limit .*: it must be one whole number from 1 to 1000, in decimal digits$/);
        }
      }
      assert.match((await call(g, 'GET', '/api/ledger?limit=1&limit=2')).json.message, /^limit is given 2 times/);
    } finally {
      await g.close();
    }
  });

  test('approve → 200; approving again → 409 not_waiting; unknown → 404', async () => {
    const g = await gateway([manualSop('a')]);
    try {
      const id = (await call(g, 'POST', '/api/sops/a/execute')).json.run_id;
      const ok = await call(g, 'POST', `/api/runs/${id}/approve`);
      assert.equal(ok.status, 200);
      assert.equal(ok.json.run_id, id);
      await settle();
      const again = await call(g, 'POST', `/api/runs/${id}/approve`);
      assert.equal(again.status, 409);
      assert.equal(again.json.error, 'not_waiting');
      assert.equal((await call(g, 'POST', '/api/runs/nope/approve')).status, 404);
    } finally {
      await g.close();
    }
  });

  test('advance: 409 while waiting approval or on a built-in step, 400 on bad input, 200 on an external step, 409 once finished', async () => {
    const executor = new TestExecutor(false);
    const g = await gateway([manualSop('a')], { executor });
    try {
      const id = (await call(g, 'POST', '/api/sops/a/execute')).json.run_id;
      const waiting = await call(g, 'POST', `/api/runs/${id}/advance`, '{"status":"completed"}');
      assert.equal(waiting.status, 409);
      assert.equal(waiting.json.error, 'waiting_approval');

      assert.equal((await call(g, 'POST', `/api/runs/${id}/approve`)).status, 200);
      await settle();
      const builtinStep = await call(g, 'POST', `/api/runs/${id}/advance`, '{"status":"completed"}');
      assert.equal(builtinStep.status, 409);
      assert.equal(builtinStep.json.error, 'not_external');

      executor.calls[0]!.settle({ status: 'completed', output: 'done' });
      await settle();
      assert.equal(g.h.engine.getRun(id)?.current_step, 2);
      for (const bad of ['not json', '[]', '{"status":"done"}', '{"status":"completed","output":5}']) {
        const res = await call(g, 'POST', `/api/runs/${id}/advance`, bad);
        assert.equal(res.status, 400, bad);
        assert.equal(res.json.error, 'bad_request');
      }
      const advanced = await call(g, 'POST', `/api/runs/${id}/advance`, '{"status":"completed","output":"checked by hand"}');
      assert.equal(advanced.status, 200);
      assert.equal(advanced.json.status, 'completed');
      assert.equal(advanced.json.step_results[1].output, 'checked by hand');

      const finished = await call(g, 'POST', `/api/runs/${id}/advance`, '{"status":"completed"}');
      assert.equal(finished.status, 409);
      assert.equal(finished.json.error, 'finished');
      assert.equal((await call(g, 'POST', '/api/runs/nope/advance', '{"status":"completed"}')).status, 404);
    } finally {
      await g.close();
    }
  });

  test('cancel → 200; again → 409 finished; unknown → 404', async () => {
    const g = await gateway([manualSop('a')]);
    try {
      const id = (await call(g, 'POST', '/api/sops/a/execute')).json.run_id;
      const ok = await call(g, 'POST', `/api/runs/${id}/cancel`);
      assert.equal(ok.status, 200);
      assert.equal(ok.json.status, 'cancelled');
      const again = await call(g, 'POST', `/api/runs/${id}/cancel`);
      assert.equal(again.status, 409);
      assert.equal(again.json.error, 'finished');
      assert.equal((await call(g, 'POST', '/api/runs/nope/cancel')).status, 404);
    } finally {
      await g.close();
    }
  });
});

describe('reload, status and stats', () => {
  test('POST /api/reload → 501 without a reload function, 200 with its result', async () => {
    const without = await gateway([]);
    try {
      const res = await call(without, 'POST', '/api/reload');
      assert.equal(res.status, 501);
      assert.equal(res.json.error, 'not_implemented');
    } finally {
      await without.close();
    }
    const g = await gateway([], { reload: async () => ({ ok: false, loaded: 3, errors: 1 }) });
    try {
      const res = await call(g, 'POST', '/api/reload');
      assert.equal(res.status, 200);
      assert.deepEqual(res.json, { ok: false, loaded: 3, errors: 1 });
    } finally {
      await g.close();
    }
  });

  test('GET /api/status reports version, uptime, SOPs and engine stats; stats() counts by route and status', async () => {
    const g = await gateway([manualSop('a'), webhookOnly]);
    try {
      await call(g, 'POST', '/api/sops/a/execute');
      await call(g, 'GET', '/api/runs/x1');
      await call(g, 'GET', '/api/runs/x2');
      const res = await call(g, 'GET', '/api/status');
      assert.equal(res.status, 200);
      assert.equal(res.json.status, 'ok');
      assert.equal(typeof res.json.version, 'string');
      assert.equal(typeof res.json.uptime_secs, 'number');
      assert.equal(res.json.sops_loaded, 2);
      assert.equal(res.json.engine.active, 1);
      assert.equal(res.json.engine.runsStarted, 1);
      const counts = g.api.stats().requests;
      const find = (route: string, status: number) => counts.find((c) => c.route === route && c.status === status)?.count;
      assert.equal(find('/api/runs/:id', 404), 2);
      assert.equal(find('/api/sops/:name/execute', 201), 1);
    } finally {
      await g.close();
    }
  });
});

describe('lifecycle', () => {
  test('stop() lets a request in flight finish, refuses new connections, then resolves', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const g = await gateway([], {
      reload: async () => {
        entered();
        await gate;
        return { ok: true, loaded: 0, errors: 0 };
      },
    });
    const inflight = call(g, 'POST', '/api/reload');
    await inside;
    let stopped = false;
    const stopping = g.api.stop().then(() => (stopped = true));
    const refused = await new Promise<string>((resolve) => {
      const socket = connect(g.port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    assert.equal(refused, 'ECONNREFUSED');
    await settle();
    assert.equal(stopped, false, 'stop waits for the request in flight');
    release();
    const res = await inflight;
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { ok: true, loaded: 0, errors: 0 });
    assert.equal(res.headers.get('connection'), 'close');
    await stopping;
    g.h.close();
  });

});

describe('API token', () => {
  test('a configured token wins; otherwise one is generated into <state_dir>/api.token (0600) and reused', async () => {
    const state = join(dir, `state${++n}`, 'nested');
    assert.deepEqual(await loadApiToken(state, 'configured'), { token: 'configured', source: 'config', file: null });
    const first = await loadApiToken(state, '');
    assert.equal(first.source, 'generated');
    assert.match(first.token, /^[0-9a-f]{64}$/);
    assert.equal(first.file, join(state, 'api.token'));
    assert.equal((await stat(first.file)).mode & 0o777, 0o600);
    assert.equal((await readFile(first.file, 'utf8')).trim(), first.token);
    const second = await loadApiToken(state, '');
    assert.deepEqual(second, { token: first.token, source: 'file', file: first.file });
  });

  test('a token file readable by others is narrowed to 0600', async () => {
    const state = join(dir, `state${++n}`);
    await mkdir(state);
    await writeFile(join(state, 'api.token'), 'abc\n', { mode: 0o644 });
    assert.equal((await loadApiToken(state, '')).token, 'abc');
    assert.equal((await stat(join(state, 'api.token'))).mode & 0o777, 0o600);
  });
});
