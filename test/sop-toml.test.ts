import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseSopToml } from '../src/sop/sop-toml.js';
import type { Finding } from '../src/sop/types.js';

const OPTIONS = { defaultExecutionMode: 'supervised' as const, timezone: 'UTC' };
const FILE = '/ws/sops/x/SOP.toml';
const HEAD = '[sop]\nname = "x"\ndescription = "d"\n';

function parse(source: string) {
  return parseSopToml(source, FILE, OPTIONS);
}

/** The one error a source produces, asserting there is exactly one. */
function oneError(source: string): Finding {
  const result = parse(source);
  assert.equal(result.errors.length, 1, `expected one error, got ${JSON.stringify(result.errors)}`);
  return result.errors[0]!;
}

function trigger(lines: string): string {
  return `${HEAD}\n[[triggers]]\n${lines}\n`;
}

describe('SOP.toml: defaults', () => {
  test('a minimal [sop] gets every default of docs/sop-format.md', () => {
    const result = parse(HEAD);
    assert.deepEqual(result.errors, []);
    assert.deepEqual(result.header, {
      name: 'x',
      description: 'd',
      version: '0.1.0',
      priority: 'normal',
      execution_mode: 'supervised',
      cooldown_secs: 0,
      max_concurrent: 1,
      triggers: [],
    });
  });

  test('execution_mode defaults to the config default', () => {
    const result = parseSopToml(HEAD, FILE, { ...OPTIONS, defaultExecutionMode: 'auto' });
    assert.equal(result.header?.execution_mode, 'auto');
  });

  test('explicit values are kept', () => {
    const result = parse(
      `${HEAD}version = "2.0.1"\npriority = "critical"\nexecution_mode = "step_by_step"\ncooldown_secs = 300\nmax_concurrent = 4\n`,
    );
    assert.deepEqual(result.errors, []);
    assert.equal(result.header?.version, '2.0.1');
    assert.equal(result.header?.priority, 'critical');
    assert.equal(result.header?.execution_mode, 'step_by_step');
    assert.equal(result.header?.cooldown_secs, 300);
    assert.equal(result.header?.max_concurrent, 4);
  });

  test('every trigger type parses into its fields', () => {
    const result = parse(
      `${HEAD}
[[triggers]]
type = "manual"
[[triggers]]
type = "webhook"
path = "/sop/deploy"
[[triggers]]
type = "mqtt"
topic = "sensors/+/temp"
condition = "$.value > 85"
[[triggers]]
type = "mqtt"
topic = "alerts/#"
[[triggers]]
type = "cron"
expression = "0 7 * * 1-5"
[[triggers]]
type = "peripheral"
board = "sim"
signal = "button"
condition = "> 0"
`,
    );
    assert.deepEqual(result.errors, []);
    assert.deepEqual(result.warnings, []);
    assert.deepEqual(result.header?.triggers, [
      { type: 'manual' },
      { type: 'webhook', path: '/sop/deploy' },
      { type: 'mqtt', topic: 'sensors/+/temp', condition: '$.value > 85' },
      { type: 'mqtt', topic: 'alerts/#' },
      { type: 'cron', expression: '0 7 * * 1-5' },
      { type: 'peripheral', board: 'sim', signal: 'button', condition: '> 0' },
    ]);
  });
});

describe('SOP.toml: errors carry file and line', () => {
  test('TOML syntax error gives line and column', () => {
    const e = oneError('[sop]\nname = "x"\ndescription = \n');
    assert.equal(e.file, FILE);
    assert.equal(e.line, 3);
    assert.match(e.message, /^TOML syntax error at line 3, column \d+: /);
  });

  test('missing [sop] table', () => {
    const e = oneError('[[triggers]]\ntype = "manual"\n');
    assert.match(e.message, /missing \[sop\] table/);
  });

  test('[sop] that is not a table', () => {
    const e = oneError('sop = 3\n');
    assert.match(e.message, /missing \[sop\] table/);
    assert.equal(e.line, 1);
  });

  test('missing name', () => {
    const e = oneError('[sop]\ndescription = "d"\n');
    assert.match(e.message, /missing required key "name"/);
    assert.equal(e.line, 1, 'points at the [sop] header');
  });

  test('missing description', () => {
    const e = oneError('[sop]\nname = "x"\n');
    assert.match(e.message, /missing required key "description"/);
  });

  test('unknown priority', () => {
    const e = oneError(`${HEAD}priority = "urgent"\n`);
    assert.equal(e.line, 4);
    assert.match(e.message, /priority must be one of low, normal, high, critical, got "urgent"/);
  });

  test('unknown execution_mode', () => {
    const e = oneError(`${HEAD}\n\nexecution_mode = "yolo"\n`);
    assert.equal(e.line, 6);
    assert.match(e.message, /execution_mode must be one of auto, supervised, step_by_step, priority_based/);
  });

  for (const [value, why] of [
    ['-1', 'negative'],
    ['1.5', 'fractional'],
    ['"300"', 'a string'],
  ] as const) {
    test(`cooldown_secs ${why} is an error`, () => {
      const e = oneError(`${HEAD}cooldown_secs = ${value}\n`);
      assert.equal(e.line, 4);
      assert.match(e.message, /cooldown_secs must be a non-negative integer/);
    });
  }

  test('max_concurrent must be at least 1', () => {
    const e = oneError(`${HEAD}max_concurrent = 0\n`);
    assert.match(e.message, /max_concurrent must be an integer ≥ 1, got 0/);
    assert.equal(oneError(`${HEAD}max_concurrent = 2.5\n`).line, 4);
  });

  test('unknown trigger type', () => {
    const e = oneError(trigger('type = "email"'));
    assert.equal(e.line, 6);
    assert.match(e.message, /trigger 1: unknown trigger type "email"/);
  });

  test('trigger without type', () => {
    const e = oneError(trigger('path = "/sop/x"'));
    assert.equal(e.line, 5, 'points at the [[triggers]] header');
    assert.match(e.message, /missing required key "type"/);
  });

  for (const [type, key] of [
    ['webhook', 'path'],
    ['mqtt', 'topic'],
    ['cron', 'expression'],
    ['peripheral', 'board'],
  ] as const) {
    test(`${type} trigger missing ${key}`, () => {
      const source = type === 'peripheral' ? `type = "${type}"\nsignal = "s"` : `type = "${type}"`;
      const e = oneError(trigger(source));
      assert.match(e.message, new RegExp(`trigger 1 \\(${type}\\): missing required key "${key}"`));
      assert.equal(e.line, 5);
    });
  }

  test('peripheral trigger missing signal', () => {
    assert.match(oneError(trigger('type = "peripheral"\nboard = "b"')).message, /missing required key "signal"/);
  });

  test('the second trigger is named and located', () => {
    const e = oneError(`${HEAD}\n[[triggers]]\ntype = "manual"\n\n[[triggers]]\ntype = "mqtt"\ntopic = "a/#/b"\n`);
    assert.equal(e.line, 10);
    assert.match(e.message, /^trigger 2 \(mqtt\): invalid topic filter "a\/#\/b"/);
  });

  for (const [topic, why] of [
    ['sensors/#/temp', '# not last'],
    ['sensors/te+mp', 'wildcard inside a level'],
    ['sensors/temp#', '# inside a level'],
    ['', 'empty filter'],
  ] as const) {
    test(`invalid topic filter: ${why}`, () => {
      const e = oneError(trigger(`type = "mqtt"\ntopic = "${topic}"`));
      assert.equal(e.line, 7);
      assert.match(e.message, /invalid topic filter/);
    });
  }

  test('a condition that does not compile', () => {
    const e = oneError(trigger('type = "mqtt"\ntopic = "a"\ncondition = "$.value >"'));
    assert.equal(e.line, 8);
    assert.match(e.message, /trigger 1 \(mqtt\): .*\$\.value >/);
  });

  test('a peripheral condition that does not compile', () => {
    const e = oneError(trigger('type = "peripheral"\nboard = "b"\nsignal = "s"\ncondition = "value = 1"'));
    assert.equal(e.line, 9);
  });

  for (const [expression, pattern] of [
    ['0 61 * * *', /invalid cron expression "0 61 \* \* \*"/],
    ['* * * *', /has 4 fields; expected 5/],
    ['0 0 0 30 2 *', /never fires/],
    ['0 0 0 1 1 * 2020', /never fires/],
    ['not a cron', /has 3 fields/],
  ] as const) {
    test(`cron expression "${expression}" is rejected`, () => {
      const e = oneError(trigger(`type = "cron"\nexpression = "${expression}"`));
      assert.equal(e.line, 7);
      assert.match(e.message, pattern);
    });
  }

  for (const expression of ['*/5 * * * *', '30 0 9 * * 1-5', '0 0 12 1 1 * 2099', '0 7 * * 7', '@daily']) {
    test(`cron expression "${expression}" is accepted`, () => {
      const result = parse(trigger(`type = "cron"\nexpression = "${expression}"`));
      assert.deepEqual(result.errors, []);
    });
  }

  test('webhook path must start with /', () => {
    const e = oneError(trigger('type = "webhook"\npath = "sop/deploy"'));
    assert.equal(e.line, 7);
    assert.match(e.message, /path "sop\/deploy" must start with "\/"/);
  });

  test('a field of the wrong type', () => {
    const e = oneError(trigger('type = "mqtt"\ntopic = 5'));
    assert.match(e.message, /topic must be a string, got 5/);
  });

  test('every problem is reported at once', () => {
    const result = parse('[sop]\nname = "x"\npriority = "urgent"\ncooldown_secs = -1\n\n[[triggers]]\ntype = "pager"\n');
    assert.deepEqual(
      result.errors.map((e) => e.line),
      [1, 3, 4, 7],
    );
  });
});

describe('SOP.toml: warnings', () => {
  test('empty name and description', () => {
    const result = parse('[sop]\nname = ""\ndescription = "  "\n');
    assert.deepEqual(result.errors, []);
    assert.deepEqual(
      result.warnings.map((w) => [w.line, w.message]),
      [
        [2, '[sop]: name is empty'],
        [3, '[sop]: description is empty'],
      ],
    );
  });

  test('unknown keys are warnings, with their line', () => {
    const result = parse(`${HEAD}cooldown_sec = 5\n\n[[triggers]]\ntype = "manual"\npath = "/x"\n\n[extra]\n`);
    assert.deepEqual(result.errors, []);
    assert.deepEqual(
      result.warnings.map((w) => [w.line, w.message]),
      [
        [10, 'unknown top-level key "extra"'],
        [4, '[sop]: unknown key "cooldown_sec"'],
        [8, 'trigger 1 (manual): unknown key "path"'],
      ],
    );
  });

  test('a webhook path the gateway never serves is a warning', () => {
    const result = parse(trigger('type = "webhook"\npath = "/deploy"'));
    assert.deepEqual(result.errors, []);
    assert.equal(result.warnings.length, 1);
    assert.match(result.warnings[0]!.message, /never served/);
  });
});
