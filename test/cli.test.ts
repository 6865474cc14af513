import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ONE_STEP_MD, sopToml, trigger } from './helpers/fixtures.js';
import { cli, makeTree, removeTree } from './helpers/workspace.js';

const MQTT_TRIGGER = trigger('type = "mqtt"', 'topic = "sensors/+/temp"', 'condition = "$.value >= 85"');

let root: string;
before(async () => {
  root = await makeTree({
    'sopgate.toml': 'workspace = "."\n[engine]\ndefault_execution_mode = "auto"\n',
    'sops/alert/SOP.toml': sopToml('alert', 'priority = "critical"', MQTT_TRIGGER),
    'sops/alert/SOP.md': ONE_STEP_MD,
    'sops/any-temp/SOP.toml': sopToml('any-temp', '', trigger('type = "mqtt"', 'topic = "sensors/#"')),
    'sops/any-temp/SOP.md': ONE_STEP_MD,
    'sops/broken/SOP.toml': sopToml('broken', 'priority = "urgent"', MQTT_TRIGGER),
    'sops/broken/SOP.md': ONE_STEP_MD,
    'sops/stepless/SOP.toml': sopToml('stepless'),
    'clean/sops/only/SOP.toml': sopToml('only'),
    'clean/sops/only/SOP.md': ONE_STEP_MD,
  });
});
after(() => removeTree(root));

describe('sopgate validate', () => {
  test('human output lists every finding as file:line, exit 1', async () => {
    const r = await cli(root, 'validate');
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^sops\/broken\/SOP\.toml:4: error: \[sop\]: priority must be one of low, normal, high, critical, got "urgent"$/m);
    assert.match(r.stdout, /^sops\/stepless\/SOP\.md: warning: no steps: SOP\.md is missing/m);
    assert.match(r.stdout, /^4 SOPs checked in sops: 2 clean, 1 with errors, 1 with warnings$/m);
  });

  test('--json has the shape of docs/cli.md', async () => {
    const r = await cli(root, 'validate', '--json');
    assert.equal(r.code, 1);
    const out = JSON.parse(r.stdout);
    assert.equal(out.ok, false);
    assert.deepEqual(
      out.sops.map((s: { name: string }) => s.name),
      ['alert', 'any-temp', 'broken', 'stepless'],
    );
    const broken = out.sops[2];
    assert.equal(broken.location, `${root}/sops/broken`);
    assert.deepEqual(broken.errors, [
      {
        message: '[sop]: priority must be one of low, normal, high, critical, got "urgent"',
        file: `${root}/sops/broken/SOP.toml`,
        line: 4,
      },
    ]);
    assert.deepEqual(broken.warnings, []);
    assert.equal(out.sops[3].warnings[0].line, null);
  });

  test('one clean SOP by name exits 0', async () => {
    const r = await cli(root, 'validate', 'alert', '--json');
    assert.equal(r.code, 0, r.stdout);
    assert.deepEqual(JSON.parse(r.stdout).sops.length, 1);
    assert.equal(JSON.parse(r.stdout).ok, true);
  });

  test('a SOP with warnings only exits 1', async () => {
    assert.equal((await cli(root, 'validate', 'stepless')).code, 1);
  });

  test('a broker open to the network without users is a config warning: exit 1', async () => {
    const open = await makeTree({
      'sopgate.toml': '[mqtt]\nlisten = "0.0.0.0:1883"\n',
      'sops/only/SOP.toml': sopToml('only'),
      'sops/only/SOP.md': ONE_STEP_MD,
    });
    try {
      const r = await cli(open, 'validate');
      assert.equal(r.code, 1, r.stdout);
      assert.match(r.stdout, /^sopgate\.toml:2: warning: \[mqtt\] listen = "0\.0\.0\.0:1883" without \[\[mqtt\.users\]\]/m);
    } finally {
      await removeTree(open);
    }
  });

  test('an unknown name exits 2', async () => {
    const r = await cli(root, 'validate', 'nope');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown SOP "nope"/);
  });

  test('--sops-dir overrides the config, relative to the working directory', async () => {
    const r = await cli(root, 'validate', '--sops-dir', 'clean/sops');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /1 SOP checked in clean\/sops: 1 clean/);
  });

  test('--config from another directory resolves paths against the config file', async () => {
    const r = await cli('/', 'validate', 'alert', '--config', `${root}/sopgate.toml`);
    assert.equal(r.code, 0, r.stdout + r.stderr);
  });

  test('a missing SOP folder is an error, exit 1', async () => {
    const r = await cli(root, 'validate', '--sops-dir', 'nowhere', '--json');
    assert.equal(r.code, 1);
    const out = JSON.parse(r.stdout);
    assert.equal(out.ok, false);
    assert.match(out.config.errors[0].message, /cannot read SOP folder nowhere: no such folder/);
  });

  test('a broken config is reported with its line, exit 1', async () => {
    const dir = await makeTree({ 'sopgate.toml': '[engine]\nmax_concurrent_total = "many"\n', 'sops/a/SOP.toml': sopToml('a'), 'sops/a/SOP.md': ONE_STEP_MD });
    try {
      const r = await cli(dir, 'validate');
      assert.equal(r.code, 1);
      assert.match(r.stdout, /^sopgate\.toml:2: error: \[engine\] max_concurrent_total must be an integer ≥ 1, got "many"$/m);
    } finally {
      await removeTree(dir);
    }
  });

  test('an unknown option exits 2', async () => {
    const r = await cli(root, 'validate', '--strict');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /Unknown option '--strict'/);
  });
});

describe('sopgate list and show', () => {
  test('list --json prints the SOP objects that load', async () => {
    const r = await cli(root, 'list', '--json');
    assert.equal(r.code, 0);
    const sops = JSON.parse(r.stdout);
    assert.deepEqual(
      sops.map((s: { name: string }) => s.name),
      ['alert', 'any-temp', 'stepless'],
    );
    assert.match(r.stderr, /1 SOP\(s\) with errors left out/);
  });

  test('list shows a table with a status per SOP', async () => {
    const r = await cli(root, 'list');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^NAME\s+PRIORITY\s+MODE\s+TRIGGERS\s+STEPS\s+STATUS$/m);
    assert.match(r.stdout, /^alert\s+critical\s+auto\s+mqtt\s+1\s+ok$/m);
    assert.match(r.stdout, /^broken\s+.*1 error \(sopgate validate broken\)$/m);
    assert.match(r.stdout, /^stepless\s+.*\s+0\s+1 warning$/m);
  });

  test('show --json prints exactly the SOP object of docs/cli.md', async () => {
    const r = await cli(root, 'show', 'alert', '--json');
    assert.equal(r.code, 0);
    assert.deepEqual(JSON.parse(r.stdout), {
      name: 'alert',
      description: 'The alert procedure',
      version: '0.1.0',
      priority: 'critical',
      execution_mode: 'auto',
      cooldown_secs: 0,
      max_concurrent: 1,
      triggers: [{ type: 'mqtt', topic: 'sensors/+/temp', condition: '$.value >= 85' }],
      steps: [{ number: 1, title: 'Do it', body: 'Do the thing.', suggested_tools: [], requires_confirmation: false, action: null, on_failure: 'fail', timeout_secs: null }],
      location: `${root}/sops/alert`,
    });
  });

  test('show prints a readable description', async () => {
    const r = await cli(root, 'show', 'alert');
    assert.match(r.stdout, /^alert 0\.1\.0: The alert procedure$/m);
    assert.match(r.stdout, /^ {2}mqtt {8}sensors\/\+\/temp {2}when \$\.value >= 85$/m);
    assert.match(r.stdout, /^ {2}1\. Do it {2}\[external\]$/m);
  });

  test('show of an unknown SOP exits 2; without a name exits 2', async () => {
    assert.equal((await cli(root, 'show', 'nope')).code, 2);
    assert.equal((await cli(root, 'show')).code, 2);
  });
});

describe('sopgate match', () => {
  test('a matching payload names the SOPs in order', async () => {
    const r = await cli(root, 'match', '--source', 'mqtt', '--topic', 'sensors/cold-room/temp', '--payload', '{"value": 91}', '--json');
    assert.equal(r.code, 0);
    assert.deepEqual(JSON.parse(r.stdout), { matched: ['alert', 'any-temp'] });
    assert.match(r.stderr, /1 SOP\(s\) with errors cannot match/, 'the broken SOP is left out');
  });

  test('a payload below the threshold matches only the unconditional SOP', async () => {
    const r = await cli(root, 'match', '--source', 'mqtt', '--topic', 'sensors/cold-room/temp', '--payload', '{"value": 84.9}', '--json');
    assert.deepEqual(JSON.parse(r.stdout), { matched: ['any-temp'] });
  });

  test('no match prints a line and still exits 0', async () => {
    const r = await cli(root, 'match', '--source', 'mqtt', '--topic', 'other/topic');
    assert.equal(r.code, 0);
    assert.equal(r.stdout, 'no SOP matches\n');
  });

  test('manual by name', async () => {
    const r = await cli(root, 'match', '--source', 'manual', '--topic', 'stepless', '--json');
    assert.deepEqual(JSON.parse(r.stdout), { matched: ['stepless'] });
  });

  test('an option value that starts with a dash is the value, not an option', async () => {
    const below = await cli(root, 'match', '--source', 'mqtt', '--topic', 'sensors/cold-room/temp', '--payload', '-1', '--json');
    assert.equal(below.code, 0, below.stderr);
    assert.deepEqual(JSON.parse(below.stdout), { matched: ['any-temp'] });
    const json = await cli(root, 'match', '--source', 'mqtt', '--topic', 'sensors/cold-room/temp', '--payload', '-{"value": 91}');
    assert.equal(json.code, 0, json.stderr);
    const missing = await cli(root, 'match', '--source', 'mqtt', '--topic', 'sensors/cold-room/temp', '--payload');
    assert.equal(missing.code, 2, 'an option at the end still needs its value');
  });

  test('usage errors exit 2', async () => {
    assert.equal((await cli(root, 'match', '--topic', 'x')).code, 2);
    assert.equal((await cli(root, 'match', '--source', 'email', '--topic', 'x')).code, 2);
    const r = await cli(root, 'match', '--source', 'mqtt');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /needs --topic/);
  });
});

describe('sopgate itself', () => {
  test('no command prints usage and exits 2; --help exits 0', async () => {
    const none = await cli(root);
    assert.equal(none.code, 2);
    assert.match(none.stdout, /usage: sopgate <command>/);
    assert.equal((await cli(root, '--help')).code, 0);
  });

  test('an unknown command exits 2', async () => {
    const r = await cli(root, 'frobnicate');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown command "frobnicate"/);
  });
});
