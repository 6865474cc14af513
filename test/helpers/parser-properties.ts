// What every parser of untrusted text must do, whatever it is given: return a value or
// findings, never throw, and keep its findings well formed. test/parsers.test.ts runs these
// properties on a small budget with every `npm test`; `npm run fuzz` (bench/fuzz.ts) runs the
// same ones on a large budget and says how many inputs each parser takes per second.
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import fc from 'fast-check';
import { buildConfig } from '../../src/config/config.js';
import { decode, firstInvalidUtf8 } from '../../src/core/read-text.js';
import { compileCondition } from '../../src/expressions/condition.js';
import { evaluateConditionReference } from '../../src/expressions/condition-reference.js';
import { Payload } from '../../src/expressions/payload.js';
import { parseSteps } from '../../src/sop/markdown.js';
import { parseSopToml } from '../../src/sop/sop-toml.js';
import { TOOL_NAMES, type Finding } from '../../src/sop/types.js';
import { parseStepResult } from '../../src/core/run.js';
import { condition, payload } from './condition-arbitraries.js';
import { sopMarkdown } from './sop-md-gen.js';
import { comparable, referenceParseSteps } from './steps-reference.js';

const STEP_STATUSES = ['completed', 'failed', 'skipped'] as const;

export interface ParserProperty {
  name: string;
  /** Inputs for `npm test`, and for `npm run fuzz`. */
  runs: { test: number; fuzz: number };
  property: fc.IPropertyWithHooks<[unknown]> | fc.IProperty<[unknown]>;
}

/** Text made of the pieces a format is built from, plus any characters at all. */
function textOf(pieces: string[], maxPieces = 120): fc.Arbitrary<string> {
  const piece = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...pieces) }, { weight: 1, arbitrary: fc.string({ maxLength: 6, unit: 'binary' }) });
  return fc.oneof({ weight: 4, arbitrary: fc.array(piece, { maxLength: maxPieces }).map((p) => p.join('')) }, { weight: 1, arbitrary: fc.string({ maxLength: 200, unit: 'binary' }) });
}

function wellFormed(findings: Finding[], file: string, text: string): void {
  const lines = text.split(/\r\n|\r|\n/).length;
  for (const f of findings) {
    assert.equal(typeof f.message, 'string');
    assert.notEqual(f.message, '');
    assert.equal(f.file, file);
    if (f.line !== null) assert.ok(Number.isInteger(f.line) && f.line >= 1 && f.line <= lines, `line ${f.line} of ${lines}`);
  }
}

const MD_PIECES = [
  '## Steps\n', '## Steps', 'Steps\n---\n', '# ', '## ', '### ', '\n', '\n\n', '\r\n', '\r', ' ', '   ', '    ', '\t',
  '1. ', '2) ', '10. ', '1.', '- ', '* ', '+ ', '-', '> ', '>', '---', '===', '***', '```', '~~~', '```shell\n', '```log\n',
  '```delay\n', 'message = "x"\n', 'seconds = 1\n', '**', '__', '*', '_', '`', '``', '[', ']', '(', ')', '![', '](', '<', '<http://a>',
  '\\', '&amp;', ':', 'tools: a, b', 'on_failure: retry 2', 'timeout_secs: 5', 'requires_confirmation: true', 'text', 'Fan', 'é', '😀',
];

const TOML_PIECES = [
  '[sop]\n', '[[triggers]]\n', '[triggers]\n', 'name = "x"\n', 'description = "d"\n', 'version = "1"\n', 'priority = "high"\n',
  'execution_mode = "auto"\n', 'cooldown_secs = -1\n', 'max_concurrent = 0\n', 'type = "mqtt"\n', 'type = "cron"\n', 'type = "webhook"\n',
  'type = "peripheral"\n', 'type = "manual"\n', 'topic = "a/+/b"\n', 'topic = "a/#/b"\n', 'condition = "$.a > 1"\n', 'condition = ">"\n',
  'expression = "* * * * *"\n', 'expression = "61 * * * * * *"\n', 'path = "/sop/x"\n', 'board = "b"\n', 'signal = "s"\n', 'x.y = 1\n',
  '=', '"', "'", '"""', "'''", '[', ']', '{', '}', ',', '.', '#', '\n', ' ', 'x', '1', '1979-05-27T07:32:00Z', 'true', 'inf', 'nan',
  '0x1F', '\\u0000', '\\', '= [', '= {', 'a = 1\n', 'name = 1\n', 'triggers = [1]\n', 'triggers = [{}]\n', 'sop = 1\n',
  'type = 1\n', 'condition = []\n', 'topic = ""\n', 'expression = 5\n', 'path = "/"\n', '[sop.x]\n', 'description = ""\n',
];

const CONFIG_PIECES = [
  '[engine]\n', '[http]\n', '[mqtt]\n', '[[mqtt.users]]\n', '[cron]\n', '[sops]\n', '[store]\n', 'workspace = "w"\n', 'sops_dir = 1\n',
  'state_dir = "s"\n', 'boards = ["a"]\n', 'listen = "127.0.0.1:0"\n', 'timezone = "Europe/Paris"\n', 'timezone = "Nowhere/Else"\n',
  'max_file_bytes = 0\n', 'max_steps = 5\n', 'username = "u"\n', 'password_hash = "scrypt$"\n', 'gateway_access = "read"\n',
  'users = 1\n', 'engine = 1\n', 'default_execution_mode = "auto"\n', 'synchronous = "normal"\n', 'catch_up = "once"\n', 'token = ""\n',
  '=', '"', '[', ']', '{', '}', ',', '.', '#', '\n', ' ', 'x', '1', '-1', 'true', '9007199254740993',
];

const stepBody = fc.oneof(
  fc.string(),
  fc.json(),
  fc
    .record({ status: fc.oneof(fc.constantFrom(...STEP_STATUSES, 'COMPLETED', ''), fc.anything()), output: fc.oneof(fc.string(), fc.anything()) }, { requiredKeys: [] })
    .map((v) => JSON.stringify(v) ?? ''),
);

function stepResult(result: unknown): void {
  if (typeof result === 'string') {
    assert.notEqual(result, '');
    return;
  }
  const r = result as { status: unknown; output?: unknown };
  assert.ok((STEP_STATUSES as readonly unknown[]).includes(r.status));
  if (r.output !== undefined) assert.equal(typeof r.output, 'string');
}

export const PARSER_PROPERTIES: ParserProperty[] = [
  {
    name: 'SOP.md as CommonMark',
    runs: { test: 300, fuzz: 20_000 },
    property: fc.property(sopMarkdown, (doc) => {
      assert.deepEqual(comparable(parseSteps(doc, 'SOP.md')), comparable(referenceParseSteps(doc, 'SOP.md')));
    }) as ParserProperty['property'],
  },
  {
    name: 'SOP.md steps',
    runs: { test: 400, fuzz: 100_000 },
    property: fc.property(textOf(MD_PIECES), (text) => {
      const r = parseSteps(text, 'SOP.md');
      r.steps.forEach((s, i) => {
        assert.equal(s.number, i + 1);
        assert.equal(typeof s.title, 'string');
        assert.equal(typeof s.body, 'string');
        if (s.action !== null) assert.ok((TOOL_NAMES as readonly string[]).includes(s.action.tool));
      });
      wellFormed(r.errors, 'SOP.md', text);
      wellFormed(r.warnings, 'SOP.md', text);
    }) as ParserProperty['property'],
  },
  {
    name: 'SOP.toml',
    runs: { test: 400, fuzz: 100_000 },
    property: fc.property(textOf(TOML_PIECES), (text) => {
      const r = parseSopToml(text, 'SOP.toml', { defaultExecutionMode: 'supervised', timezone: 'UTC' });
      if (r.header === null) assert.ok(r.errors.length > 0);
      wellFormed(r.errors, 'SOP.toml', text);
      wellFormed(r.warnings, 'SOP.toml', text);
    }) as ParserProperty['property'],
  },
  {
    name: 'sopgate.toml',
    runs: { test: 400, fuzz: 100_000 },
    property: fc.property(textOf(CONFIG_PIECES), (text) => {
      const r = buildConfig(text, 'sopgate.toml', '/etc/sopgate');
      if (r.ok) assert.ok(Object.isFrozen(r.config) && r.config.sops.max_file_bytes >= 1 && r.config.sops.max_steps >= 1);
      else {
        assert.ok(r.errors.length > 0);
        wellFormed(r.errors, 'sopgate.toml', text);
      }
      wellFormed(r.warnings, 'sopgate.toml', text);
    }) as ParserProperty['property'],
  },
  {
    name: 'conditions',
    runs: { test: 2_000, fuzz: 1_000_000 },
    property: fc.property(fc.tuple(fc.oneof(condition, fc.string({ unit: 'binary' })), payload), ([source, body]) => {
      const compiled = compileCondition(source);
      if (!compiled.ok) return assert.equal(typeof compiled.error, 'string');
      assert.equal(compiled.test(new Payload(body)), evaluateConditionReference(source, body));
    }) as ParserProperty['property'],
  },
  {
    name: 'step results (HTTP and MQTT)',
    runs: { test: 1_000, fuzz: 200_000 },
    property: fc.property(stepBody, (body) => stepResult(parseStepResult(body))) as ParserProperty['property'],
  },
  {
    name: 'UTF-8 check',
    runs: { test: 1_000, fuzz: 200_000 },
    property: fc.property(
      fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.string({ unit: 'binary' }).map((s) => new Uint8Array(Buffer.from(s)))),
      (bytes) => {
        const r = decode(bytes);
        assert.equal(r.ok, isUtf8(bytes));
        if (r.ok || r.missing) return;
        const at = firstInvalidUtf8(bytes);
        assert.ok(at < bytes.length && isUtf8(bytes.subarray(0, at)));
        assert.equal(r.line, 1 + bytes.subarray(0, at).filter((b) => b === 0x0a).length);
      },
    ) as ParserProperty['property'],
  },
];
