// The [upstream] section: defaults, absolute paths, and every check with its line.
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildConfig } from '../src/config/config.js';
import { makeTree, removeTree } from './helpers/workspace.js';

let root: string;
before(async () => {
  root = await makeTree({ 'certs/ca.pem': 'x', 'certs/gw.pem': 'x', 'certs/gw.key': 'x', 'upstream.pass': 'secret\n' });
});
after(() => removeTree(root));

function build(text: string) {
  return buildConfig(text, join(root, 'sopgate.toml'), root);
}

function findings(text: string): string[] {
  const r = build(text);
  return [...(r.ok ? [] : r.errors), ...r.warnings].map((f) => `${f.line}: ${f.message}`);
}

describe('[upstream]', () => {
  test('absent: no upstream, every default', () => {
    const r = build('');
    assert.ok(r.ok);
    assert.equal(r.config.upstream.url, '');
    assert.equal(r.config.upstream.prefix, 'sopgate');
    assert.equal(r.config.upstream.outbox_max_messages, 100000);
    assert.deepEqual(r.config.upstream.subscribe, []);
    assert.deepEqual(r.warnings, []);
  });

  test('a full section: files against the config folder, the id as given', () => {
    const r = build(
      '[upstream]\nurl = "mqtts://fleet.example.net:8883"\ngateway_id = "plant3-line1"\nprefix = "sopgate/fleet"\n' +
        'username = "plant3-line1"\npassword_file = "upstream.pass"\nca = "certs/ca.pem"\ncert = "certs/gw.pem"\nkey = "certs/gw.key"\n' +
        'subscribe = ["zigbee2mqtt/#"]\nforward = ["sensors/#"]\noutbox_max_messages = 500\n',
    );
    assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
    assert.deepEqual(r.warnings, []);
    const u = r.config.upstream;
    assert.equal(u.password_file, join(root, 'upstream.pass'));
    assert.equal(u.ca, join(root, 'certs/ca.pem'));
    assert.equal(u.key, join(root, 'certs/gw.key'));
    assert.equal(u.gateway_id, 'plant3-line1');
    assert.deepEqual(u.forward, ['sensors/#']);
    assert.ok(Object.isFrozen(u) && Object.isFrozen(u.subscribe));
  });

  test('the gateway id defaults to the host name, made to fit a topic level', () => {
    const r = build('[upstream]\nurl = "mqtt://127.0.0.1:1883"\n');
    assert.ok(r.ok);
    const expected = hostname().split('.')[0]!.replace(/[^A-Za-z0-9_-]/g, '-') || 'sopgate';
    assert.equal(r.config.upstream.gateway_id, expected);
    assert.match(r.config.upstream.gateway_id, /^[A-Za-z0-9_-]+$/);
  });

  test('every problem is reported with its line', () => {
    const text = [
      '[mqtt]', // 1
      'listen = ""', // 2
      '[upstream]', // 3
      'url = "http://fleet:80"', // 4
      'gateway_id = "plant 3/line"', // 5
      'prefix = "fleet/+/x"', // 6
      'password_file = "missing.pass"', // 7
      'cert = "certs/gw.pem"', // 8
      'subscribe = ["a/#/b", "sopgate/fleet/x"]', // 9
      'forward = ["sensors/#"]', // 10
    ].join('\n');
    assert.deepEqual(findings(text), [
      '4: [upstream] url must start with mqtt://, mqtts://, ws:// or wss://, got http://',
      '5: [upstream] gateway_id "plant 3/line" must be letters, digits, "_" and "-" (one topic level)',
      '6: [upstream] prefix "fleet/+/x" must not hold "+", "#" or NUL',
      '7: [upstream] password_file needs a username',
      `7: [upstream] password_file: cannot read ${join(root, 'missing.pass')}: no such file`,
      '8: [upstream] cert and key go together (mutual TLS needs both)',
      '8: [upstream] cert needs a TLS url (mqtts:// or wss://)',
      '9: [upstream] subscribe: topic filter "a/#/b": "#" must be the last level',
      '10: [upstream] forward has no effect without the embedded broker ([mqtt] listen = "")',
    ]);
  });

  test('a subscription under the gateway\'s own topics, credentials in the URL, a URL that is not one', () => {
    assert.deepEqual(findings('[upstream]\nurl = "mqtt://u:p@broker"\ngateway_id = "gw"\nsubscribe = ["sopgate/gw/runs/#"]\n'), [
      '2: [upstream] url must not carry credentials: use username and password_file',
      '4: [upstream] subscribe: "sopgate/gw/runs/#" is under the gateway\'s own topics (sopgate/gw/), which are never events',
    ]);
    assert.deepEqual(findings('[upstream]\nurl = "broker:1883"\n'), ['2: [upstream] url must start with mqtt://, mqtts://, ws:// or wss://, got broker://']);
    // mqtt.js would read clientId (and more) from the query: the gateway's id is its own.
    for (const url of ['mqtt://b?clientId=other', 'wss://b/mqtt#x']) {
      assert.deepEqual(findings(`[upstream]\nurl = "${url}"\n`), ['2: [upstream] url must not carry a query or a fragment: every option has its own key in [upstream]']);
    }
    assert.deepEqual(findings('[upstream]\nurl = "not a url"\n'), [
      '2: [upstream] url "not a url" is not a URL (expected mqtt://host:port, mqtts://, ws:// or wss://)',
    ]);
    assert.deepEqual(findings('[upstream]\nurl = "mqtt://b"\nprefix = "/fleet"\n'), [
      '3: [upstream] prefix "/fleet" must not have an empty level (a leading, trailing or double "/")',
    ]);
  });

  test('keys without a url are a warning: the section does nothing', () => {
    const r = build('[upstream]\nsubscribe = ["a/#"]\n');
    assert.ok(r.ok);
    assert.deepEqual(r.warnings.map((w) => `${w.line}: ${w.message}`), ['1: [upstream] has no url: the section has no effect']);
  });
});
