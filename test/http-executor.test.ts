import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ManualClock } from './helpers/clock.js';
import { createHttpExecutor, type HttpOptions } from '../src/executors/http-request.js';
import type { StepContext } from '../src/executors/types.js';
import type { ToolArgs } from '../src/sop/types.js';
import type { GatewayEvent } from '../src/core/events.js';
import { memoryLogger } from './helpers/logger.js';
import { WAIT_MS, withTimeout } from './helpers/process.js';
import { stepContext } from './helpers/step-context.js';

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

let server: Server;
let base = '';
let received: Received[] = [];
const arrived: Array<() => void> = [];
/** How the server answers; tests replace it. */
let respond: (req: Received, res: ServerResponse) => void = (_req, res) => res.end('ok');

before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const r = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      received.push(r);
      for (const wake of arrived.splice(0)) wake();
      respond(r, res);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => {
  server.closeAllConnections();
  server.close();
});
beforeEach(() => {
  received = [];
  respond = (_req, res) => res.end('ok');
});

/** Resolves when the server has read a whole request. */
const requestArrives = () => new Promise<void>((resolve) => arrived.push(resolve));

/**
 * Resolves when the client (fetch) has parsed the head of a response to a request for `path`:
 * Node's fetch announces it on undici's documented diagnostics channel.
 */
function responseHeadersReach(path: string): Promise<void> {
  return new Promise((resolve) => {
    const seen = (message: unknown): void => {
      if ((message as { request: { path: string } }).request.path !== path) return;
      diagnostics.unsubscribe('undici:request:headers', seen);
      resolve();
    };
    diagnostics.subscribe('undici:request:headers', seen);
  });
}

const ctx = (over: Partial<StepContext> = {}, event: Partial<GatewayEvent> = {}): StepContext =>
  stepContext({ runId: 'run-9', totalSteps: 2, ...over }, { topic: 'sensors/fan', ...event });

/** Args as src/sop/actions.ts would hand them over, defaults applied. */
function args(given: Partial<ToolArgs['http_request']> & { url: string }): ToolArgs['http_request'] {
  return { method: 'GET', headers: {}, body: '', timeout_secs: 10, ...given };
}

const run = (given: Parameters<typeof args>[0], c: StepContext = ctx(), clock = new ManualClock(), options: HttpOptions = {}) =>
  createHttpExecutor({ clock, logger: memoryLogger() }, options).run({ tool: 'http_request', source: '', args: args(given) }, c);

describe('http_request executor: the request', () => {
  it('sends method, rendered headers and body', async () => {
    const outcome = await run(
      { url: `${base}/hook`, method: 'PUT', headers: { 'X-Run': '{{run.id}}', 'X-Sop': '{{ sop.name }}' }, body: 'temp={{payload.t}}' },
      ctx({}, { payload: '{"t": 91}' }),
    );
    assert.deepEqual(outcome, { status: 'completed', output: 'HTTP 200 OK\nok' });
    const [r] = received;
    assert.ok(r);
    assert.equal(r.method, 'PUT');
    assert.equal(r.url, '/hook');
    assert.equal(r.headers['x-run'], 'run-9');
    assert.equal(r.headers['x-sop'], 'fan-alarm');
    assert.equal(r.body, 'temp=91');
  });

  it('JSON-escapes values in a JSON body, so quotes and backslashes arrive as valid JSON', async () => {
    const payload = JSON.stringify({ msg: 'he said "stop" \\ now\n', n: 1 });
    const body = '{"text": "{{payload.msg}}", "raw": "{{payload}}", "run": "{{run.id}}"}';
    const outcome = await run({ url: `${base}/j`, method: 'POST', body }, ctx({}, { payload }));
    assert.equal(outcome.status, 'completed');
    assert.deepEqual(JSON.parse(received[0]?.body ?? ''), { text: 'he said "stop" \\ now\n', raw: payload, run: 'run-9' });
  });

  it('JSON-escapes when Content-Type says json even if the body does not look like JSON', async () => {
    const headers = { 'content-TYPE': 'application/vnd.api+json' };
    await run({ url: base, method: 'POST', headers, body: '"{{payload}}"' }, ctx({}, { payload: 'a"b' }));
    assert.equal(JSON.parse(received[0]?.body ?? ''), 'a"b');
    assert.equal(received[0]?.headers['content-type'], 'application/vnd.api+json');
  });

  it('inserts values as they are into a plain-text body', async () => {
    await run({ url: base, method: 'POST', body: 'say "{{payload}}"' }, ctx({}, { payload: 'a"b\\c' }));
    assert.equal(received[0]?.body, 'say "a"b\\c"');
  });

  it('percent-encodes values inserted into the URL', async () => {
    await run({ url: `${base}/x/{{payload.name}}?q={{payload.q}}` }, ctx({}, { payload: '{"name":"a/b c","q":"1&admin=1#"}' }));
    assert.equal(received[0]?.url, '/x/a%2Fb%20c?q=1%26admin%3D1%23');
  });

  it('sends no body with GET or HEAD', async () => {
    for (const method of ['GET', 'HEAD']) {
      const outcome = await run({ url: base, method, body: 'ignored' });
      assert.equal(outcome.status, 'completed');
    }
    assert.deepEqual(received.map((r) => [r.method, r.body, r.headers['content-length']]), [
      ['GET', '', undefined],
      ['HEAD', '', undefined],
    ]);
  });
});

describe('http_request executor: the response', () => {
  it('fails on status >= 400 with the body in the output', async () => {
    respond = (_req, res) => {
      res.statusCode = 500;
      res.end('oops: fan controller down');
    };
    assert.deepEqual(await run({ url: base }), { status: 'failed', output: 'HTTP 500 Internal Server Error\noops: fan controller down' });
  });

  it('completes below 400, empty body included', async () => {
    respond = (_req, res) => {
      res.statusCode = 204;
      res.end();
    };
    assert.deepEqual(await run({ url: base }), { status: 'completed', output: 'HTTP 204 No Content\n' });
  });

  it('caps the body and counts what it dropped', async () => {
    respond = (_req, res) => res.end('x'.repeat(100));
    assert.deepEqual(await run({ url: base }, ctx(), new ManualClock(), { maxOutputBytes: 10 }), {
      status: 'completed',
      output: `HTTP 200 OK\n${'x'.repeat(10)}\n[output truncated: 90 more bytes]`,
    });
  });
});

describe('http_request executor: failures', () => {
  it('times out against a server that never answers (args.timeout_secs)', async () => {
    respond = () => {}; // never answers
    const clock = new ManualClock();
    const pending = run({ url: base, timeout_secs: 3 }, ctx(), clock);
    await requestArrives();
    clock.advance(2999);
    clock.advance(1);
    assert.deepEqual(await pending, { status: 'failed', output: '[timed out after 3s]' });
    assert.equal(clock.pending, 0);
  });

  it("prefers the step's timeout_secs", async () => {
    respond = () => {};
    const clock = new ManualClock();
    const pending = run({ url: base, timeout_secs: 30 }, ctx({ timeoutSecs: 1 }), clock);
    await requestArrives();
    clock.advance(1000);
    assert.deepEqual(await pending, { status: 'failed', output: '[timed out after 1s]' });
  });

  it('times out while the body is still arriving, keeping the status and what came', async () => {
    // The head and the first chunk go out in one write, so the client parses both at once.
    respond = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('partial');
    };
    const clock = new ManualClock();
    const headers = responseHeadersReach('/slow-body');
    const pending = run({ url: `${base}/slow-body`, timeout_secs: 2 }, ctx(), clock);
    await withTimeout(headers, WAIT_MS, 'the response head to reach the client');
    // The chunk parsed with the head reaches the executor through promise callbacks: one turn.
    await new Promise((resolve) => setImmediate(resolve));
    clock.advance(2000);
    assert.deepEqual(await pending, { status: 'failed', output: 'HTTP 200 OK\npartial\n[timed out after 2s]' });
  });

  it('cancels through the signal', async () => {
    respond = () => {};
    const controller = new AbortController();
    const pending = run({ url: base }, ctx({ signal: controller.signal }));
    await requestArrives();
    controller.abort();
    assert.deepEqual(await pending, { status: 'failed', output: '[cancelled]' });
  });

  it('reports a refused connection', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    await once(closed, 'close');
    const outcome = await run({ url: `http://127.0.0.1:${port}/` });
    assert.equal(outcome.status, 'failed');
    assert.match(outcome.output, /^\[request failed: .*ECONNREFUSED.*\]$/);
  });

  it('refuses a rendered URL that is no longer http(s)', async () => {
    const outcome = await run({ url: '{{payload}}' }, ctx({}, { payload: 'file:///etc/passwd' }));
    assert.equal(outcome.status, 'failed');
    assert.match(outcome.output, /not an http\(s\) URL/);
  });

  it('reports a header value the payload made invalid instead of throwing', async () => {
    const outcome = await run({ url: base, headers: { 'X-P': '{{payload}}' } }, ctx({}, { payload: 'a\r\nInjected: 1' }));
    assert.equal(outcome.status, 'failed');
    assert.match(outcome.output, /^\[request failed: /);
    assert.equal(received.length, 0);
  });
});
