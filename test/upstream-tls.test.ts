// The upstream connection's security against a real mosquitto: TLS with a CA and mutual
// TLS with certificates made by openssl here, a wrong CA or password (one clear log line,
// then retries, never a crash), and the ACL example of docs/fleet.md.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { startDaemon, type DaemonHarness } from './helpers/daemon.js';
import { Centre, makeCertificates, mosquittoUser, noMosquittoOrOpenssl, type Certificates } from './helpers/mosquitto.js';
import { REPO, until } from './helpers/process.js';
import { cleanup, failsAndRetries, mosquitto, TICK, upstreamLines } from './helpers/upstream.js';
import { removeTree, tempDir } from './helpers/workspace.js';

let dir: string;
let certs: Certificates;
before(async () => {
  dir = await tempDir('sopgate-upstream-tls-');
  cleanup(() => removeTree(dir));
  if (noMosquittoOrOpenssl() === false) certs = await makeCertificates(dir);
});

/** A gateway whose [upstream] has `upstream`'s keys (its url and credentials) under `sopgate/fleet`. */
async function gateway(upstream: string): Promise<DaemonHarness> {
  const h = await startDaemon(TICK, `[upstream]\nprefix = "sopgate/fleet"\n${upstream}\n`);
  cleanup(() => h.daemon.stop());
  return h;
}

async function runEventsArrive(h: DaemonHarness, centre: Centre, gw: string): Promise<void> {
  const id = (await h.api('POST', '/api/sops/tick/execute')).body.run_id as string;
  await centre.waitFor((m) => m.find((x) => x.topic === `sopgate/fleet/${gw}/runs/${id}/completed`), 'the run event');
}

describe('upstream security against a real mosquitto', { skip: noMosquittoOrOpenssl() }, () => {
  test('TLS with a CA; a gateway trusting another CA says so once and retries', async () => {
    const broker = await mosquitto({ listener: [`cafile ${certs.ca}`, `certfile ${certs.server.cert}`, `keyfile ${certs.server.key}`] });
    const url = `mqtts://127.0.0.1:${broker.port}`;
    const centre = await Centre.connect(url, ['sopgate/fleet/#'], { ca: await readFile(certs.ca) });
    cleanup(() => centre.close());
    const good = await gateway(`url = "${url}"\ngateway_id = "tls1"\nca = "${certs.ca}"`);
    await runEventsArrive(good, centre, 'tls1');

    const wrong = await gateway(`url = "${url}"\ngateway_id = "tls2"\nca = "${certs.otherCa}"`);
    const line = await failsAndRetries(wrong);
    assert.match(line, new RegExp(`^error \\[upstream\\] cannot connect to ${url}: the broker's certificate is not trusted: .* \\(check \\[upstream\\] ca\\); retrying in 1 s, then up to every 30 s$`));
  });

  test('mutual TLS: the gateway\'s certificate is required; without it, one line and retries', async () => {
    const broker = await mosquitto({
      listener: [`cafile ${certs.ca}`, `certfile ${certs.server.cert}`, `keyfile ${certs.server.key}`, 'require_certificate true'],
    });
    const url = `mqtts://127.0.0.1:${broker.port}`;
    const ca = await readFile(certs.ca);
    const centre = await Centre.connect(url, ['sopgate/fleet/#'], { ca, cert: await readFile(certs.client.cert), key: await readFile(certs.client.key) });
    cleanup(() => centre.close());
    const good = await gateway(`url = "${url}"\ngateway_id = "mtls1"\nca = "${certs.ca}"\ncert = "${certs.client.cert}"\nkey = "${certs.client.key}"`);
    await runEventsArrive(good, centre, 'mtls1');

    const without = await gateway(`url = "${url}"\ngateway_id = "mtls2"\nca = "${certs.ca}"`);
    const line = await failsAndRetries(without);
    // ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED with TLS 1.3; TLS 1.2 names another alert.
    assert.match(
      line,
      new RegExp(`^error \\[upstream\\] cannot connect to ${url}: the broker refused the TLS handshake \\(ERR_SSL_\\w+_ALERT_\\w+\\): check \\[upstream\\] cert and key; retrying in 1 s`),
    );
  });

  test('a wrong password: one line, retries, and the file is read again at each attempt', async () => {
    const passwords = join(dir, 'passwords');
    await mosquittoUser(passwords, 'gw1', 'right');
    const broker = await mosquitto({ global: ['allow_anonymous false', `password_file ${passwords}`] });
    const passFile = join(dir, 'gw1.pass');
    await writeFile(passFile, 'wrong\n');
    const h = await gateway(`url = "mqtt://127.0.0.1:${broker.port}"\ngateway_id = "gw1"\nusername = "gw1"\npassword_file = "${passFile}"`);
    const line = await failsAndRetries(h);
    assert.equal(
      line,
      `error [upstream] cannot connect to mqtt://127.0.0.1:${broker.port}: the broker refused the credentials: Connection refused: Not authorized ` +
        '(check [upstream] username and password_file); retrying in 1 s, then up to every 30 s',
    );
    await writeFile(passFile, 'right\n');
    await until(async () => (upstreamLines(h, 'info').some((l) => l.includes('connected to')) ? true : undefined), 'the connection with the new password', 15_000);
  });

  test('the ACL of docs/fleet.md: a gateway writes only under its own <prefix>/<gateway_id>/', async () => {
    const doc = await readFile(join(REPO, 'docs/fleet.md'), 'utf8');
    const acl = /```\n(# mosquitto acl_file[^`]*)```/.exec(doc)?.[1];
    assert.ok(acl !== undefined, 'docs/fleet.md has the ACL example');
    const aclFile = join(dir, 'acl');
    await writeFile(aclFile, acl);
    const passwords = join(dir, 'acl-passwords');
    await mosquittoUser(passwords, 'plant1', 'p1');
    await mosquittoUser(passwords, 'central', 'c');
    await writeFile(join(dir, 'plant1.pass'), 'p1\n');
    const broker = await mosquitto({ global: ['allow_anonymous false', `password_file ${passwords}`, `acl_file ${aclFile}`] });
    const url = `mqtt://127.0.0.1:${broker.port}`;
    const centre = await Centre.connect(broker.port, ['sopgate/fleet/#'], { username: 'central', password: 'c' });
    cleanup(() => centre.close());

    const own = await gateway(`url = "${url}"\ngateway_id = "plant1"\nusername = "plant1"\npassword_file = "${join(dir, 'plant1.pass')}"`);
    await runEventsArrive(own, centre, 'plant1');
    // A command from the centre reaches it too.
    await centre.publish('sopgate/fleet/plant1/sops/tick/execute', '');
    await centre.waitFor((m) => (m.filter((x) => /^sopgate\/fleet\/plant1\/runs\/[^/]+\/completed$/.test(x.topic)).length === 2 ? true : undefined), 'the run the centre started');

    // The same credentials under another gateway's name: the broker refuses what it writes.
    const impostor = await gateway(`url = "${url}"\ngateway_id = "plant2"\nusername = "plant1"\npassword_file = "${join(dir, 'plant1.pass')}"`);
    const refused = await impostor.api('POST', '/api/sops/tick/execute');
    assert.equal(refused.status, 201, 'runs never wait for the upstream');
    await until(async () => ((await impostor.api('GET', '/api/status')).body.upstream.dropped_total === 2 ? true : undefined), 'the refused events counted');
    assert.ok(upstreamLines(impostor, 'warn').some((l) => /the broker refused run event sopgate\/fleet\/plant2\/runs\/\S+\/started: Publish error: Not authorized; dropped/.test(l)));
    assert.equal((await impostor.api('GET', '/api/status')).body.upstream.outbox_messages, 0);
    // Nothing of it reached the centre, which did see the first gateway's next event.
    await runEventsArrive(own, centre, 'plant1');
    assert.deepEqual(centre.messages.filter((m) => m.topic.startsWith('sopgate/fleet/plant2/')), []);
    assert.ok(upstreamLines(impostor, 'warn').some((l) => l.includes('the broker refused the status message on sopgate/fleet/plant2/status')));
  });
});
