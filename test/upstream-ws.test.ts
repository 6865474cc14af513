// The upstream connection over WebSockets: ws:// and wss:// to a real mosquitto behind a
// WebSocket listener (test/helpers/ws-front.ts) that, like a broker's, takes the upgrade on
// one path with the subprotocol `mqtt`. The centre subscribes to mosquitto over TCP.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { before, describe, test } from 'node:test';
import { startDaemon, type DaemonHarness } from './helpers/daemon.js';
import { Centre, makeCertificates, noMosquittoOrOpenssl, type Certificates } from './helpers/mosquitto.js';
import { centre, cleanup, eventsOf, execute, failsAndRetries, GW, LOG_MD, mosquitto, ROOT, runEvents, TICK } from './helpers/upstream.js';
import { webSocketFront, type WebSocketFront, type WebSocketFrontOptions } from './helpers/ws-front.js';
import { removeTree, sopToml, tempDir } from './helpers/workspace.js';

const SOPS = {
  ...TICK,
  'sops/gate/SOP.toml': sopToml('gate', 'execution_mode = "supervised"'),
  'sops/gate/SOP.md': LOG_MD,
};

let certs: Certificates;
before(async () => {
  if (noMosquittoOrOpenssl() !== false) return;
  const dir = await tempDir('sopgate-upstream-ws-');
  cleanup(() => removeTree(dir));
  certs = await makeCertificates(dir);
});

async function front(brokerPort: number, options: WebSocketFrontOptions): Promise<WebSocketFront> {
  const f = await webSocketFront(brokerPort, options);
  cleanup(() => f.close());
  return f;
}

/** A gateway whose [upstream] is `url` (and `extra` keys) under `sopgate/fleet`. */
async function gateway(url: string, extra = '', gatewayId = GW): Promise<DaemonHarness> {
  const h = await startDaemon(SOPS, `[upstream]\nurl = "${url}"\ngateway_id = "${gatewayId}"\nprefix = "sopgate/fleet"\n${extra}\n`);
  cleanup(() => h.daemon.stop());
  return h;
}

function birthOf(c: Centre, gatewayId = GW): Promise<{ state: string; sops: string[] }> {
  return c.waitFor((m) => m.find((x) => x.topic === `sopgate/fleet/${gatewayId}/status`), 'the birth message').then((b) => JSON.parse(b.payload));
}

describe('upstream over WebSockets to a real mosquitto', { skip: noMosquittoOrOpenssl() }, () => {
  test('ws://: the retained birth message, run events in order, and an approval and an execute from the centre', async () => {
    const broker = await mosquitto();
    const ws = await front(broker.port, { path: '/mqtt' });
    const c = await centre(broker);
    const url = `ws://127.0.0.1:${ws.port}/mqtt`;
    const h = await gateway(url);

    const birth = await birthOf(c);
    assert.equal(birth.state, 'online');
    assert.deepEqual([...birth.sops].sort(), ['gate', 'tick']);
    assert.deepEqual(ws.requests, ['/mqtt mqtt'], 'one upgrade, on the path, offering the subprotocol mqtt');
    // A subscriber that comes later gets it as retained state.
    const later = await Centre.connect(broker.port, [`${ROOT}status`], { clean: true, properties: {} });
    cleanup(() => later.close());
    const kept = await later.waitFor((m) => m[0], 'the retained birth message');
    assert.equal(kept.retain, true);
    assert.equal(JSON.parse(kept.payload).state, 'online');

    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(await execute(h, 'tick'));
    const sent = await c.waitFor((m) => (runEvents(m).length >= 20 ? runEvents(m) : undefined), 'the ticks\' events');
    assert.deepEqual(sent, ids.flatMap((id) => [`${id} started`, `${id} completed`]));

    await c.publish(`${ROOT}sops/gate/execute`, '{"from":"centre"}');
    const [started] = await c.waitFor((m) => {
      const gate = runEvents(m).slice(20);
      return gate.length >= 2 ? gate : undefined;
    }, 'the run the centre started');
    const id = started!.split(' ')[0]!;
    await c.publish(`${ROOT}runs/${id}/approve`, '');
    assert.deepEqual(await c.waitFor(eventsOf(id, 3), 'the approved run'), [`${id} started`, `${id} waiting_approval`, `${id} completed`]);
    const ledger = ((await h.api('GET', `/api/ledger?run=${id}`)).body as { kind: string; actor: string }[]).map((e) => `${e.kind} ${e.actor}`);
    assert.deepEqual(ledger.slice(0, 3), ['started upstream', 'waiting engine', 'approved upstream']);
    assert.equal(ws.connections(), 1, 'no reconnection along the way');
    assert.ok(h.logs.includes(`info [upstream] connected to ${url} as ${GW}`));
  });

  test('wss:// with a CA and a client certificate; a gateway trusting another CA says so once and retries', async () => {
    const broker = await mosquitto();
    const [cert, key, ca] = await Promise.all([readFile(certs.server.cert), readFile(certs.server.key), readFile(certs.ca)]);
    const wss = await front(broker.port, { path: '/mqtt', tls: { cert, key, ca } });
    const c = await centre(broker, 'sopgate/fleet/#');
    const url = `wss://127.0.0.1:${wss.port}/mqtt`;
    const client = `cert = "${certs.client.cert}"\nkey = "${certs.client.key}"`;

    const good = await gateway(url, `ca = "${certs.ca}"\n${client}`);
    assert.equal((await birthOf(c)).state, 'online');
    const id = await execute(good, 'tick');
    assert.deepEqual(await c.waitFor(eventsOf(id, 2), 'the run\'s events'), [`${id} started`, `${id} completed`]);

    const wrong = await gateway(url, `ca = "${certs.otherCa}"\n${client}`, 'wss2');
    const line = await failsAndRetries(wrong);
    assert.match(line, new RegExp(`^error \\[upstream\\] cannot connect to ${url}: the broker's certificate is not trusted: .* \\(check \\[upstream\\] ca\\); retrying in 1 s, then up to every 30 s$`));
    assert.equal(wss.connections(), 1, 'the untrusted attempts never got past TLS');
    assert.ok(!c.messages.some((m) => m.topic.startsWith('sopgate/fleet/wss2/')));
  });

  test('the url\'s path is the one asked for; a path the server does not serve is one clear line, then retries', async () => {
    const broker = await mosquitto();
    const ws = await front(broker.port, { path: '/some/path' });
    const c = await centre(broker, 'sopgate/fleet/#');

    await gateway(`ws://127.0.0.1:${ws.port}/some/path`);
    assert.equal((await birthOf(c)).state, 'online');
    assert.deepEqual(ws.requests, ['/some/path mqtt']);

    const url = `ws://127.0.0.1:${ws.port}/mqtt`;
    const elsewhere = await gateway(url, '', 'ws2');
    const line = await failsAndRetries(elsewhere);
    assert.equal(
      line,
      `error [upstream] cannot connect to ${url}: the server refused the WebSocket upgrade with HTTP 404 (check the path in [upstream] url); ` +
        'retrying in 1 s, then up to every 30 s',
    );
    assert.deepEqual(ws.requests.slice(0, 2), ['/some/path mqtt', '/mqtt mqtt']);
    assert.equal(ws.connections(), 1);
  });
});
