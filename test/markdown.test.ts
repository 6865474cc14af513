import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseSteps } from '../src/sop/markdown.js';

const FILE = 'sops/fan/SOP.md';
const md = (...lines: string[]) => `${lines.join('\n')}\n`;
const parse = (text: string) => parseSteps(text, FILE);
/** A document whose line 3 is the first line given. */
const section = (...lines: string[]) => md('## Steps', '', ...lines);
const titles = (text: string) => parse(text).steps.map((s) => [s.number, s.title]);
const only = (text: string) => {
  const r = parse(text);
  assert.equal(r.steps.length, 1);
  return r.steps[0]!;
};

describe('parseSteps: the Steps section', () => {
  it('finds the heading case-insensitively and trimmed', () => {
    for (const heading of ['## Steps', '## STEPS', '##   steps   ', 'sTePs\n-----']) {
      assert.deepEqual(titles(md('# SOP', heading, '1. **A**')), [[1, 'A']], heading);
    }
  });

  it('ignores a depth-3 or depth-1 heading called Steps', () => {
    assert.deepEqual(parse(md('### Steps', '1. **A**')).steps, []);
    assert.deepEqual(parse(md('# Steps', '1. **A**')).steps, []);
  });

  it('ends at the next depth-2 heading and at a depth-1 heading', () => {
    assert.deepEqual(titles(section('1. **A**', '## Notes', '1. **B**')), [[1, 'A']]);
    assert.deepEqual(titles(section('1. **A**', '# Appendix', '1. **B**')), [[1, 'A']]);
  });

  it('does not end at a ### heading, which goes to the body of the step above', () => {
    const r = parse(section('1. **A** — a', '### Details', '2. **B**'));
    assert.deepEqual(r.steps.map((s) => [s.title, s.body]), [['A', 'a\n### Details'], ['B', '']]);
  });

  it('counts only the first Steps section', () => {
    assert.deepEqual(titles(md('## Steps', '1. **A**', '## Steps', '1. **B**')), [[1, 'A']]);
  });

  it('gives zero steps and no findings when there is no Steps section or no list', () => {
    assert.deepEqual(parse(md('# Fan', '', 'Just prose.', '', '1. **Not a step**')), { steps: [], errors: [], warnings: [], actionLines: new Map() });
    assert.deepEqual(parse(section('Only prose here.')), { steps: [], errors: [], warnings: [], actionLines: new Map() });
    assert.deepEqual(parse(''), { steps: [], errors: [], warnings: [], actionLines: new Map() });
  });

  it('ignores content before the first step', () => {
    const r = parse(section('Read this first.', '', '- tools: shell', '', '```shell', 'echo hi', '```', '', '1. **A**'));
    assert.deepEqual(r.steps, [{ number: 1, title: 'A', body: '', suggested_tools: [], requires_confirmation: false, action: null, on_failure: { policy: 'fail' }, timeout_secs: null }]);
    assert.deepEqual(r.errors, []);
  });
});

describe('parseSteps: numbering', () => {
  it('numbers steps 1..n by position and warns about each mismatch with its line', () => {
    const r = parse(section('5. **A**', '6. **B**', '7) **C**'));
    assert.deepEqual(r.steps.map((s) => [s.number, s.title]), [[1, 'A'], [2, 'B'], [3, 'C']]);
    assert.deepEqual(r.warnings, [
      { message: 'step numbering gap: expected 1, found 5', file: FILE, line: 3 },
      { message: 'step numbering gap: expected 2, found 6', file: FILE, line: 4 },
      { message: 'step numbering gap: expected 3, found 7', file: FILE, line: 5 },
    ]);
  });

  it('warns only where the written number differs', () => {
    const r = parse(section('1. **A**', '2. **B**', '4) **C**', '5. **D**'));
    assert.deepEqual(r.steps.map((s) => s.number), [1, 2, 3, 4]);
    assert.deepEqual(r.warnings.map((w) => [w.message, w.line]), [
      ['step numbering gap: expected 3, found 4', 5],
      ['step numbering gap: expected 4, found 5', 6],
    ]);
  });

  it('takes steps from several ordered lists in order', () => {
    const r = parse(section('1. **A**', '', 'Between.', '', '2. **B**', '', '- note', '', '3. **C**'));
    assert.deepEqual(r.steps.map((s) => [s.number, s.title, s.body]), [[1, 'A', 'Between.'], [2, 'B', '- note'], [3, 'C', '']]);
    assert.deepEqual(r.warnings, []);
  });

  it('starts a step at a numbered line right after a paragraph, as a line reader would', () => {
    const r = parse(section('1. **A**', '', 'Note for A.', '2. **B** — b', '3. **C**'));
    assert.deepEqual(r.steps.map((s) => [s.number, s.title, s.body]), [[1, 'A', 'Note for A.'], [2, 'B', 'b'], [3, 'C', '']]);
    assert.deepEqual(r.warnings, []);
    // Findings after the split still carry the user's own line numbers.
    const gap = parse(section('1. **A**', '', 'Note.', '3. **B**', '', '```delay', 'seconds = -1', '```'));
    assert.deepEqual(gap.warnings.map((w) => w.line), [6]);
    assert.deepEqual(gap.errors.map((e) => e.line), [9]);
  });
});

describe('parseSteps: title and body', () => {
  it('takes the leading bold text as the title and the rest as the body', () => {
    const s = only(section('1. **Check the `fan` state** — Read [the sensor](http://x) and `log` it.'));
    assert.equal(s.title, 'Check the fan state');
    assert.equal(s.body, 'Read [the sensor](http://x) and `log` it.');
  });

  it('removes exactly one leading em dash, en dash or hyphen', () => {
    const cases: Array<[string, string]> = [
      ['1. **A** — body', 'body'],
      ['1. **A** – body', 'body'],
      ['1. **A** - body', 'body'],
      ['1. **A**—body', 'body'],
      ['1. **A** — — body', '— body'],
      ['1. **A** -- body', '- body'],
      ['1. **A** –- body', '- body'],
      ['1. **A** body', 'body'],
      ['1. **A**: body', ': body'],
    ];
    for (const [line, body] of cases) assert.equal(only(section(line)).body, body, line);
  });

  it('continues the body on the following lines of the first paragraph, dedented', () => {
    const s = only(section('1. **A** — first', '   second', 'lazy third'));
    assert.equal(s.body, 'first\nsecond\nlazy third');
    assert.equal(only(section('1. **A**', '   — on the next line')).body, 'on the next line');
  });

  it('uses the first line as the title when there is no leading bold', () => {
    const s = only(section('1. Check the *fan* state', '   then restart it'));
    assert.equal(s.title, 'Check the *fan* state');
    assert.equal(s.body, 'then restart it');
    assert.equal(only(section('1. Bold **later** in the line')).title, 'Bold **later** in the line');
  });

  it('warns about an empty title with the step line', () => {
    const r = parse(section('1. **A**', '2.', '3. **B**'));
    assert.deepEqual(r.steps.map((s) => s.title), ['A', '', 'B']);
    assert.deepEqual(r.warnings, [{ message: 'step 2 has an empty title', file: FILE, line: 4 }]);
    const fenceFirst = parse(section('1. ```shell', '   echo hi', '   ```'));
    assert.deepEqual(fenceFirst.warnings.map((w) => [w.message, w.line]), [['step 1 has an empty title', 3]]);
    assert.equal(fenceFirst.steps[0]?.action?.source, 'echo hi');
  });

  it('puts other bullets, paragraphs, quotes and non-tool fences in the body, in order, as markdown', () => {
    const s = only(
      section(
        '1. **A** — intro',
        '   - check `x`',
        '   - tools: shell',
        '   - see [docs](http://d)',
        '',
        '   Indented paragraph.',
        '',
        '   ```json',
        '   {"a": 1}',
        '   ```',
        '',
        '> Careful.',
        '',
        '```',
        'plain',
        '```',
      ),
    );
    assert.equal(s.body, 'intro\n- check `x`\n- see [docs](http://d)\nIndented paragraph.\n```json\n{"a": 1}\n```\n> Careful.\n```\nplain\n```');
    assert.deepEqual(s.suggested_tools, ['shell']);
    assert.equal(s.action, null);
  });
});

describe('parseSteps: sub-bullets', () => {
  it('parses tools: comma-separated, trimmed, empties dropped, key case-insensitive', () => {
    assert.deepEqual(only(section('1. **A**', '   - tools: shell, , log ,http_request,')).suggested_tools, ['shell', 'log', 'http_request']);
    assert.deepEqual(only(section('1. **A**', '   -  TOOLS : a')).suggested_tools, ['a']);
    assert.deepEqual(only(section('1. **A**', '   - tools:')).suggested_tools, []);
    assert.deepEqual(only(section('1. **A**', '   - tools: a', '   - Tools: b')).suggested_tools, ['a', 'b']);
  });

  it('sets requires_confirmation only for "true" in any case', () => {
    const cases: Array<[string, boolean]> = [['true', true], ['TRUE', true], [' True ', true], ['yes', false], ['false', false], ['1', false], ['', false]];
    for (const [value, expected] of cases) {
      const s = only(section('1. **A** — a', `   - Requires_Confirmation: ${value}`));
      assert.equal(s.requires_confirmation, expected, value);
      assert.equal(s.body, 'a', 'the key bullet never reaches the body');
    }
  });

  it('attaches unindented sub-bullets to the step above', () => {
    const r = parse(section('1. **A** — a', '- tools: shell', '- requires_confirmation: true', '- a note', '2. **B** — b', '- tools: log'));
    assert.deepEqual(
      r.steps.map((s) => [s.number, s.title, s.body, s.suggested_tools, s.requires_confirmation]),
      [
        [1, 'A', 'a\n- a note', ['shell'], true],
        [2, 'B', 'b', ['log'], false],
      ],
    );
    assert.deepEqual(r.warnings, []);
  });

  it('attaches indented sub-bullets the same way', () => {
    const r = parse(section('1. **A** — a', '   - tools: shell', '   - requires_confirmation: true', '   - a note', '2. **B** — b', '   - tools: log'));
    assert.deepEqual(
      r.steps.map((s) => [s.number, s.title, s.body, s.suggested_tools, s.requires_confirmation]),
      [
        [1, 'A', 'a\n- a note', ['shell'], true],
        [2, 'B', 'b', ['log'], false],
      ],
    );
  });

  it('keeps requires_confirmation once any bullet asks for it', () => {
    assert.equal(only(section('1. **A**', '- requires_confirmation: true', '- requires_confirmation: false')).requires_confirmation, true);
  });

  it('keeps an indented numbered list in the body instead of making steps of it', () => {
    const r = parse(section('1. **A** — a', '   1. first', '   2. second', '2. **B**'));
    assert.deepEqual(r.steps.map((s) => [s.title, s.body]), [['A', 'a\n1. first\n2. second'], ['B', '']]);
  });

  it('keeps what is nested under a key bullet in the body', () => {
    const s = only(section('1. **A**', '- tools: shell', '  - why: the fan hangs'));
    assert.deepEqual(s.suggested_tools, ['shell']);
    assert.equal(s.body, '- why: the fan hangs');
  });
});

describe('parseSteps: action blocks', () => {
  it('parses a step with tools, a confirmation and a shell block', () => {
    const r = parse(
      md('# Fan', '', '## Steps', '', '1. **Check** — Look at the fan.', '2. **Restart fan** — Restart the fan controller.', '   - tools: shell', '   - requires_confirmation: true', '', '   ```shell', '   systemctl restart fanctl', '   ```'),
    );
    assert.deepEqual(r, {
      steps: [
        { number: 1, title: 'Check', body: 'Look at the fan.', suggested_tools: [], requires_confirmation: false, action: null, on_failure: { policy: 'fail' }, timeout_secs: null },
        {
          number: 2,
          title: 'Restart fan',
          body: 'Restart the fan controller.',
          suggested_tools: ['shell'],
          requires_confirmation: true,
          action: { tool: 'shell', source: 'systemctl restart fanctl', args: {} },
          on_failure: { policy: 'fail' },
          timeout_secs: null,
        },
      ],
      errors: [],
      warnings: [],
      actionLines: new Map([[2, 10]]),
    });
  });

  it('takes a tool fence inside the item as the action and keeps it out of the body', () => {
    const r = parse(section('1. **Restart fan** — Restart it.', '   - tools: shell', '', '   ```shell', '   systemctl restart fanctl', '   ```', '   Then wait.'));
    assert.deepEqual(r.steps[0], {
      number: 1,
      title: 'Restart fan',
      body: 'Restart it.\nThen wait.',
      suggested_tools: ['shell'],
      requires_confirmation: false,
      action: { tool: 'shell', source: 'systemctl restart fanctl', args: {} },
      on_failure: { policy: 'fail' },
      timeout_secs: null,
    });
  });

  it('takes an unindented tool fence after the item as the action', () => {
    const r = parse(section('1. **A** — a', '```mqtt_publish', 'topic = "fan/cmd"', 'payload = "on"', '```', '2. **B**'));
    assert.deepEqual(r.steps[0]?.action, {
      tool: 'mqtt_publish',
      source: 'topic = "fan/cmd"\npayload = "on"',
      args: { topic: 'fan/cmd', payload: 'on', qos: 0, retain: false },
    });
    assert.equal(r.steps[0]?.body, 'a');
    assert.equal(r.steps[1]?.action, null);
    assert.deepEqual(r.errors, []);
  });

  it('reads the tool from the first word of the info string', () => {
    assert.equal(only(section('1. **A**', '```delay extra words', 'seconds = 2', '```')).action?.tool, 'delay');
  });

  it('leaves steps without a tool fence as external steps', () => {
    assert.deepEqual(parse(section('1. **A**', '```json', '{}', '```', '2. **B**')).steps.map((s) => s.action), [null, null]);
  });

  it('reports a second action block with its line and keeps the first', () => {
    const r = parse(section('1. **A**', '```log', 'message = "one"', '```', '```shell', 'echo two', '```', '2. **B**', '```delay', 'seconds = 1', '```'));
    assert.deepEqual(r.errors, [{ message: 'step 1 has more than one action block', file: FILE, line: 7 }]);
    assert.deepEqual(r.steps[0]?.action, { tool: 'log', source: 'message = "one"', args: { message: 'one', level: 'info' } });
    assert.equal(r.steps[0]?.body, '');
    assert.equal(r.steps[1]?.action?.tool, 'delay');
  });

  it('maps TOML syntax errors to the SOP.md line', () => {
    const r = parse(section('1. **Call** — c', '', '   ```http_request', '   url = "http://x"', '   method = ', '   ```'));
    assert.equal(r.steps[0]?.action, null);
    assert.equal(r.errors.length, 1);
    assert.equal(r.errors[0]?.file, FILE);
    assert.equal(r.errors[0]?.line, 7);
    assert.match(r.errors[0]?.message ?? '', /^http_request block: invalid TOML at line 2, column \d+: /);
  });

  it('reports argument errors on the argument line', () => {
    const r = parse(section('1. **A**', '```gpio_write', 'signal = "relay"', 'value = 3', '```'));
    assert.deepEqual(r.errors, [{ message: 'gpio_write block: argument "value" must be 0 or 1, got 3', file: FILE, line: 6 }]);
    assert.equal(r.steps[0]?.action, null);
  });
});

describe('parseSteps: line endings', () => {
  it('gives the same result for CRLF as for LF', () => {
    const lf = md(
      '# Fan',
      '## Steps',
      '1. **A** — a',
      '   second line',
      '- tools: shell',
      '- requires_confirmation: true',
      '```shell',
      'echo one',
      'echo two',
      '```',
      '3. **B**',
      '```delay',
      'seconds = x',
      '```',
    );
    const crlf = parse(lf.replace(/\n/g, '\r\n'));
    assert.deepEqual(crlf, parse(lf));
    assert.equal(crlf.steps[0]?.body, 'a\nsecond line');
    assert.equal(crlf.steps[0]?.action?.source, 'echo one\necho two');
    assert.deepEqual(crlf.warnings.map((w) => w.line), [11]);
    assert.deepEqual(crlf.errors.map((e) => e.line), [13]);
  });
});
