// The `- on_failure:` and `- timeout_secs:` step sub-bullets (docs/sop-format.md).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseSteps } from '../src/sop/markdown.js';
import { sopToJson } from '../src/sop/json.js';
import type { SopDefinition } from '../src/sop/types.js';

const FILE = 'sops/fan/SOP.md';
const md = (...lines: string[]) => `${lines.join('\n')}\n`;
const parse = (text: string) => parseSteps(text, FILE);
/** A document whose line 3 is the first line given. */
const section = (...lines: string[]) => md('## Steps', '', ...lines);
const only = (text: string) => {
  const r = parse(text);
  assert.equal(r.steps.length, 1);
  assert.deepEqual(r.errors, []);
  return r.steps[0]!;
};

const ON_FAILURE_ERROR = (n: number, value: string) => `step ${n}: on_failure must be fail, continue or retry N (1-100), got "${value}"`;
const TIMEOUT_ERROR = (n: number, value: string) =>
  `step ${n}: timeout_secs must be a positive number of seconds (at most 86400), got "${value}"`;

describe('parseSteps: defaults', () => {
  it('gives on_failure fail and timeout_secs null when no bullet sets them', () => {
    const s = only(section('1. **A** — a', '   - tools: shell'));
    assert.deepEqual(s.on_failure, { policy: 'fail' });
    assert.equal(s.timeout_secs, null);
  });
});

describe('parseSteps: on_failure', () => {
  it('accepts fail, continue and retry N, value and key case-insensitive and trimmed', () => {
    const cases: Array<[string, unknown]> = [
      ['fail', { policy: 'fail' }],
      ['continue', { policy: 'continue' }],
      ['CONTINUE', { policy: 'continue' }],
      ['  Fail  ', { policy: 'fail' }],
      ['retry 3', { policy: 'retry', retries: 3 }],
      ['Retry 1', { policy: 'retry', retries: 1 }],
      ['retry    100', { policy: 'retry', retries: 100 }],
    ];
    for (const [value, expected] of cases) {
      const s = only(section('1. **A** — a', `   - On_Failure: ${value}`));
      assert.deepEqual(s.on_failure, expected, value);
      assert.equal(s.body, 'a', 'the key bullet never reaches the body');
    }
    assert.deepEqual(only(section('1. **A**', '   -  ON_FAILURE : continue')).on_failure, { policy: 'continue' });
  });

  it('reports every other value as an error on the bullet line and keeps the default', () => {
    for (const value of ['explode', 'retry', 'retry 0', 'retry -1', 'retry 2.5', 'retry many', 'retry 101', 'retry 3 times', '']) {
      const r = parse(section('1. **A** — a', '', 'Prose.', '', `- on_failure: ${value}`));
      assert.deepEqual(r.errors, [{ message: ON_FAILURE_ERROR(1, value), file: FILE, line: 7 }], value);
      assert.deepEqual(r.steps[0]?.on_failure, { policy: 'fail' }, value);
      assert.equal(r.steps[0]?.body, 'a\nProse.', value);
    }
  });

  it('lets a later bullet win without an error; an invalid later one keeps the earlier', () => {
    assert.deepEqual(only(section('1. **A**', '- on_failure: retry 2', '- on_failure: continue')).on_failure, { policy: 'continue' });
    const r = parse(section('1. **A**', '- on_failure: continue', '- on_failure: sometimes'));
    assert.deepEqual(r.steps[0]?.on_failure, { policy: 'continue' });
    assert.deepEqual(r.errors.map((e) => [e.message, e.line]), [[ON_FAILURE_ERROR(1, 'sometimes'), 5]]);
  });

  it('names the step the bullet belongs to', () => {
    const r = parse(section('1. **A**', '2. **B**', '   - on_failure: retry 0'));
    assert.deepEqual(r.errors, [{ message: ON_FAILURE_ERROR(2, 'retry 0'), file: FILE, line: 5 }]);
  });
});

describe('parseSteps: timeout_secs', () => {
  it('accepts positive integers and decimals up to 86400', () => {
    const cases: Array<[string, number]> = [['90', 90], ['0.5', 0.5], [' 30 ', 30], ['86400', 86400], ['1.25', 1.25]];
    for (const [value, expected] of cases) {
      const s = only(section('1. **A** — a', `   - Timeout_Secs: ${value}`));
      assert.equal(s.timeout_secs, expected, value);
      assert.equal(s.body, 'a', 'the key bullet never reaches the body');
    }
  });

  it('reports anything else as an error on the bullet line and keeps null', () => {
    for (const value of ['0', '0.0', '-5', '86400.5', '90000', 'ten', '30s', '1e3', 'Infinity', 'NaN', '']) {
      const r = parse(section('1. **A** — a', `- timeout_secs: ${value}`));
      assert.deepEqual(r.errors, [{ message: TIMEOUT_ERROR(1, value), file: FILE, line: 4 }], value);
      assert.equal(r.steps[0]?.timeout_secs, null, value);
      assert.equal(r.steps[0]?.body, 'a', value);
    }
  });

  it('lets a later bullet win', () => {
    assert.equal(only(section('1. **A**', '   - timeout_secs: 10', '   - timeout_secs: 20')).timeout_secs, 20);
  });
});

describe('parseSteps: policy bullets beside the others', () => {
  it('attaches unindented and indented bullets to the step above and keeps other bullets in the body', () => {
    const r = parse(
      section(
        '1. **A** — a',
        '- tools: shell',
        '- on_failure: retry 3',
        '- timeout_secs: 30',
        '- a note',
        '2. **B** — b',
        '   - on_failure: continue',
        '   - timeout_secs: 0.5',
        '   - requires_confirmation: true',
        '3. **C** — c',
      ),
    );
    assert.deepEqual(r.errors, []);
    assert.deepEqual(
      r.steps.map((s) => [s.number, s.body, s.suggested_tools, s.requires_confirmation, s.on_failure, s.timeout_secs]),
      [
        [1, 'a\n- a note', ['shell'], false, { policy: 'retry', retries: 3 }, 30],
        [2, 'b', [], true, { policy: 'continue' }, 0.5],
        [3, 'c', [], false, { policy: 'fail' }, null],
      ],
    );
  });

  it('reads a nested bullet as a key at any depth and keeps what is nested under it in the body', () => {
    const s = only(section('1. **A** — a', '   - notes', '     - on_failure: continue', '       - why: flaky sensor'));
    assert.deepEqual(s.on_failure, { policy: 'continue' });
    // The cut takes the key line only; the nested line keeps its written indentation.
    assert.equal(s.body, 'a\n- notes\n    - why: flaky sensor');
  });

  it('works beside an action block', () => {
    const s = only(section('1. **Restart** — r', '   - on_failure: retry 2', '   - timeout_secs: 5', '', '   ```shell', '   systemctl restart fanctl', '   ```'));
    assert.deepEqual([s.on_failure, s.timeout_secs, s.action?.tool, s.body], [{ policy: 'retry', retries: 2 }, 5, 'shell', 'r']);
  });
});

describe('sopToJson: step policies', () => {
  it('writes on_failure as text and timeout_secs as a number or null, after action', () => {
    const { steps } = parse(section('1. **A**', '- on_failure: retry 3', '- timeout_secs: 30', '2. **B**', '- on_failure: continue', '3. **C**'));
    const sop: SopDefinition = {
      name: 'fan',
      description: 'd',
      version: '0.1.0',
      priority: 'normal',
      execution_mode: 'auto',
      cooldown_secs: 0,
      max_concurrent: 1,
      triggers: [],
      steps,
      location: '/sops/fan',
    };
    const json = sopToJson(sop).steps as Array<Record<string, unknown>>;
    assert.deepEqual(json.map((s) => [s.on_failure, s.timeout_secs]), [['retry 3', 30], ['continue', null], ['fail', null]]);
    assert.deepEqual(Object.keys(json[0]!).slice(-3), ['action', 'on_failure', 'timeout_secs']);
  });
});
