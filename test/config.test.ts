import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildConfig, loadConfig } from '../src/config/config.js';
import { parseListen } from '../src/core/listen.js';
import { makeTree, removeTree } from './helpers/workspace.js';

describe('gateway config', () => {
  test('an empty file gets every default of docs/configuration.md, paths against the config folder', () => {
    const result = buildConfig('', '/etc/sopgate/sopgate.toml', '/etc/sopgate');
    assert.ok(result.ok);
    const c = result.config;
    assert.equal(c.workspace, '/etc/sopgate');
    assert.equal(c.sops_dir, '/etc/sopgate/sops');
    assert.equal(c.state_dir, '/etc/sopgate/.sopgate');
    assert.deepEqual(c.boards, []);
    assert.deepEqual({ ...c.engine }, {
      default_execution_mode: 'supervised',
      max_concurrent_total: 5,
      approval_timeout_secs: 300,
      max_finished_runs: 1000,
      max_ledger_entries: 100000,
    });
    assert.deepEqual({ ...c.http }, {
      listen: '127.0.0.1:8080',
      rate_limit_per_minute: 60,
      idempotency_ttl_secs: 300,
      max_body_bytes: 65536,
      token: '',
      webhook_auth: 'token',
      webhook_secret: '',
    });
    assert.deepEqual({ ...c.mqtt }, {
      listen: '127.0.0.1:1883',
      event_prefix: 'sopgate',
      max_packet_bytes: 262144,
      max_connections: 256,
      max_queued_messages: 1000,
      max_queued_bytes: 524288,
      max_inflight_bytes: 524288,
      max_retained_messages: 10000,
      max_retained_bytes: 8388608,
      users: [],
    });
    assert.deepEqual({ ...c.cron }, { timezone: 'UTC', catch_up: 'skip' });
    assert.deepEqual({ ...c.store }, { synchronous: 'full' });
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.engine));
  });

  test('sops_dir defaults to <workspace>/sops; an explicit one resolves against the config folder', () => {
    const a = buildConfig('workspace = "../ws"\n', '/etc/sopgate/sopgate.toml', '/etc/sopgate');
    assert.ok(a.ok);
    assert.equal(a.config.workspace, '/etc/ws');
    assert.equal(a.config.sops_dir, '/etc/ws/sops');
    const b = buildConfig('workspace = "ws"\nsops_dir = "procedures"\nstate_dir = "/var/lib/sopgate"\nboards = ["boards/sim.toml"]\n', null, '/srv');
    assert.ok(b.ok);
    assert.equal(b.config.sops_dir, '/srv/procedures');
    assert.equal(b.config.state_dir, '/var/lib/sopgate');
    assert.deepEqual(b.config.boards, ['/srv/boards/sim.toml']);
  });

  test('every bad key is reported with its line', () => {
    const source = [
      'boards = "sim.toml"',
      '[engine]',
      'default_execution_mode = "fast"',
      'max_concurrent_total = 0',
      '[http]',
      'max_body_bytes = -5',
      '[cron]',
      'timezone = "Mars/Olympus"',
    ].join('\n');
    const result = buildConfig(source, 'sopgate.toml', '/x');
    assert.ok(!result.ok);
    assert.deepEqual(
      result.errors.map((e) => e.line),
      [1, 3, 4, 6, 8],
    );
    assert.match(result.errors[4]!.message, /unknown timezone "Mars\/Olympus"/);
  });

  test('listen addresses are checked when the config loads, with their lines', () => {
    const source = ['[http]', 'listen = "localhost"', '[mqtt]', 'listen = "host:99999"'].join('\n');
    const result = buildConfig(source, 'sopgate.toml', '/x');
    assert.ok(!result.ok);
    assert.deepEqual(result.errors.map((e) => [e.line, e.message]), [
      [2, '[http] listen must be an address "host:port", "[v6]:port" or ":port" (port 0 to 65535; 0 picks a free one), got "localhost"'],
      [4, '[mqtt] listen must be an address "host:port", "[v6]:port" or ":port" (port 0 to 65535; 0 picks a free one), or "" to run no embedded broker, got "host:99999"'],
    ]);
    for (const good of ['127.0.0.1:8080', '[::1]:0', ':9000', '0.0.0.0:1883']) {
      const ok = buildConfig(`[http]\nlisten = "${good}"\n[mqtt]\nlisten = "${good}"\n`, 'sopgate.toml', '/x');
      assert.ok(ok.ok, good);
    }
    assert.ok(buildConfig('[mqtt]\nlisten = ""\n', 'sopgate.toml', '/x').ok, 'no embedded broker');
    assert.ok(!buildConfig('[http]\nlisten = ""\n', 'sopgate.toml', '/x').ok, 'the HTTP API cannot be switched off');
  });

  test('parseListen reads the three forms and nothing else', () => {
    assert.deepEqual(parseListen('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
    assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 });
    assert.deepEqual(parseListen(':9000'), { host: '0.0.0.0', port: 9000 });
    for (const bad of ['localhost', '1883', 'host:', 'h:70000', '::1:1883', 'a:b', '[::1]', '']) assert.equal(parseListen(bad), null, bad);
  });

  test('[[mqtt.users]] entries are checked and get gateway_access = "none" by default', () => {
    const ok = buildConfig('[[mqtt.users]]\nusername = "sensor"\npassword_hash = "scrypt$16384$8$1$c2FsdA$aGFzaA"\n', 'sopgate.toml', '/x');
    assert.ok(ok.ok);
    assert.deepEqual(ok.config.mqtt.users, [{ username: 'sensor', password_hash: 'scrypt$16384$8$1$c2FsdA$aGFzaA', gateway_access: 'none' }]);
    const bad = buildConfig('[[mqtt.users]]\nusername = "sensor"\npassword_hash = "hunter2"\n', 'sopgate.toml', '/x');
    assert.ok(!bad.ok);
    assert.match(bad.errors[0]!.message, /\[mqtt\] users must be an array of \[\[mqtt\.users\]\] tables/);
  });

  test('[mqtt] event_prefix must be a topic name to root commands on: an error with its line', () => {
    for (const prefix of ['', 'a/#', '+/gw', 'site/#/x', '/gw', 'gw/', '$gw']) {
      const result = buildConfig(`[mqtt]\nlisten = "127.0.0.1:1883"\nevent_prefix = ${JSON.stringify(prefix)}\n`, 'sopgate.toml', '/x');
      assert.ok(!result.ok, prefix);
      assert.equal(result.errors.length, 1, prefix);
      assert.match(result.errors[0]!.message, /^\[mqtt\] event_prefix .* must not/, prefix);
      assert.equal(result.errors[0]!.line, 3, prefix);
    }
    for (const prefix of ['sopgate', 'site/gw-1', 'plant 3/line_1']) {
      assert.ok(buildConfig(`[mqtt]\nevent_prefix = ${JSON.stringify(prefix)}\n`, 'sopgate.toml', '/x').ok, prefix);
    }
  });

  test('[mqtt] listening beyond loopback without users is a warning with its line', () => {
    for (const listen of ['0.0.0.0:1883', ':1883', '192.168.1.20:1883', '[::]:1883']) {
      const result = buildConfig(`[mqtt]\nlisten = "${listen}"\n`, 'sopgate.toml', '/x');
      assert.ok(result.ok, listen);
      assert.equal(result.warnings.length, 1, listen);
      assert.equal(result.warnings[0]!.line, 2);
      assert.match(result.warnings[0]!.message, /without \[\[mqtt\.users\]\]: anyone on the network may connect anonymously/);
    }
    for (const listen of ['127.0.0.1:1883', '127.0.0.53:1883', 'localhost:1883', '[::1]:1883', '']) {
      assert.deepEqual(buildConfig(`[mqtt]\nlisten = "${listen}"\n`, 'sopgate.toml', '/x').warnings, [], listen);
    }
    const withUsers = buildConfig('[mqtt]\nlisten = "0.0.0.0:1883"\n[[mqtt.users]]\nusername = "a"\npassword_hash = "scrypt$16384$8$1$c2FsdA$aGFzaA"\n', 'sopgate.toml', '/x');
    assert.deepEqual(withUsers.warnings, []);
  });

  test('unknown keys are warnings, not errors', () => {
    const result = buildConfig('[engine]\nmax_concurent_total = 3\n', 'sopgate.toml', '/x');
    assert.ok(result.ok);
    assert.deepEqual(result.warnings, [{ message: '[engine] unknown key "max_concurent_total"', file: 'sopgate.toml', line: 2 }]);
  });

  test('a TOML syntax error is one finding with its line', () => {
    const result = buildConfig('[engine\n', 'sopgate.toml', '/x');
    assert.ok(!result.ok);
    assert.equal(result.errors.length, 1);
    assert.equal(result.errors[0]!.line, 1);
  });

  test('a section that is not a table', () => {
    const result = buildConfig('engine = 5\n', 'sopgate.toml', '/x');
    assert.ok(!result.ok);
    assert.match(result.errors[0]!.message, /engine must be a table/);
  });

  test('loadConfig: no ./sopgate.toml means defaults at the working directory', async () => {
    const dir = await makeTree({});
    try {
      const result = await loadConfig(undefined, dir);
      assert.ok(result.ok);
      assert.equal(result.config.file, null);
      assert.equal(result.config.sops_dir, `${dir}/sops`);
    } finally {
      await removeTree(dir);
    }
  });

  test('loadConfig: a named config that does not exist is an error', async () => {
    const dir = await makeTree({});
    try {
      const result = await loadConfig('missing.toml', dir);
      assert.ok(!result.ok);
      assert.match(result.errors[0]!.message, /cannot read config: no such file/);
    } finally {
      await removeTree(dir);
    }
  });

  test('loadConfig: relative paths resolve against the file, not the working directory', async () => {
    const dir = await makeTree({ 'etc/sopgate.toml': 'workspace = "../ws"\n' });
    try {
      const result = await loadConfig('etc/sopgate.toml', dir);
      assert.ok(result.ok);
      assert.equal(result.config.workspace, `${dir}/ws`);
    } finally {
      await removeTree(dir);
    }
  });
});
