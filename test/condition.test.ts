// One case table run over both condition evaluators, then random
// conditions and payloads checking that the compiled matcher agrees with the reference.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileCondition } from '../src/expressions/condition.js';
import { evaluateConditionReference } from '../src/expressions/condition-reference.js';
import { NOT_JSON, Payload } from '../src/expressions/payload.js';
import { comparand, condition, operator, payload } from './helpers/condition-arbitraries.js';

function evaluateCompiled(condition: string, payload: string | undefined): boolean {
  const compiled = compileCondition(condition);
  return compiled.ok ? compiled.test(new Payload(payload)) : false;
}

const IMPLEMENTATIONS = [
  { name: 'compiled', evaluate: evaluateCompiled },
  { name: 'reference', evaluate: evaluateConditionReference },
] as const;

const R = '{"readings": [10, 20, 30]}';
// [condition, payload, expected]
const CASES: ReadonlyArray<readonly [string, string | undefined, boolean]> = [
  // empty condition, missing payload
  ['', undefined, true], ['   ', '', true], ['', 'anything', true],
  ['$.value > 85', undefined, false], ['$.value > 85', '', false], ['$.value > 85', ' \n ', false],
  ['> 0', undefined, false], ['!= 0', '  ', false],
  // JSON path, numbers
  ['$.value > 85', '{"value": 90}', true], ['$.value > 95', '{"value": 90}', false],
  ['$.value >= 85', '{"value": 85}', true], ['$.value >= 86', '{"value": 85}', false],
  ['$.temp < 25', '{"temp": 20}', true], ['$.temp <= 25', '{"temp": 25}', true],
  ['$.temp <= 24', '{"temp": 25}', false], ['$.count == 42', '{"count": 42}', true],
  ['$.count == 43', '{"count": 42}', false], ['$.count != 43', '{"count": 42}', true],
  ['$.data.sensor.value > 85', '{"data": {"sensor": {"value": 87.3}}}', true],
  ['$.data.sensor.value > 90', '{"data": {"sensor": {"value": 87.3}}}', false],
  // arrays and brackets
  ['$.readings.1 == 20', R, true], ['$.readings[2] == 30', R, true], ['$.readings.3 == 30', R, false],
  ['$.readings.01 == 20', R, false], ['$.readings.-1 == 30', R, false],
  ['$[0].t > 1', '[{"t": 2}]', true], ['$.m[1][0] == 3', '{"m": [[1, 2], [3, 4]]}', true],
  ['$.0 == "zero"', '{"0": "zero"}', true], ['$.a[0] == 1', '{"a": {"0": 1}}', true],
  ['$ > 5', '7', true], ['$ == "hi"', '"hi"', true], ['$ == 1', ' 1 ', true],
  // numeric strings, literal forms, exact equality, doubles
  ['$.temp > 85', '{"temp": "90"}', true], ['$.temp == 90', '{"temp": " 90 "}', true],
  ['$.temp == 0.3', '{"temp": 0.30000000000000004}', false], ['$.x == 0.1', '{"x": 0.1}', true],
  ['$.n == 1e3', '{"n": 1000}', true], ['$.n == 1000', '{"n": "1E3"}', true],
  ['$.n > -5', '{"n": -4.5}', true], ['$.n == +5', '{"n": 5}', true], ['$.n == .5', '{"n": 0.5}', true],
  ['$.n == 5.', '{"n": 5}', true], ['$.n == 0', '{"n": -0}', true], ['$.n == 007', '{"n": 7}', true],
  ['$.id == 12345678901234567890', '{"id": 12345678901234567890}', true],
  ['$.id > 9007199254740991', '{"id": 9007199254740993}', true],
  ['$.n == 0x10', '{"n": 16}', false],
  // quoted and bare text comparands
  ['$.status == "critical"', '{"status": "critical"}', true], ['$.status == "normal"', '{"status": "critical"}', false],
  ['$.status != "error"', '{"status": "ok"}', true], ['$.status != "ok"', '{"status": "ok"}', false],
  ['$.status == critical', '{"status": "critical"}', true],
  ['$.code == "85"', '{"code": 85}', false], ['$.code != "85"', '{"code": 85}', false],
  ['$.code == "85"', '{"code": "85"}', true], ['$.ver == "1.10"', '{"ver": "1.1"}', false],
  ['$.ver == 1.10', '{"ver": "1.1"}', true], ['$.v < "10"', '{"v": "9"}', false],
  ['$.msg == "a>=b"', '{"msg": "a>=b"}', true], ['$.msg == "x == y"', '{"msg": "x == y"}', true],
  ['$.msg != "a!=b"', '{"msg": "a!=b"}', false], ['$.msg == "say "hi""', '{"msg": "say \\"hi\\""}', true],
  ['$.msg == ""', '{"msg": ""}', true], ['$.msg == "  padded  "', '{"msg": "  padded  "}', true],
  ['$.msg == "unbalanced', '{"msg": "\\"unbalanced"}', true],
  ['$.name > "m"', '{"name": "z"}', true], ['$.name < "B"', '{"name": "a"}', false],
  // booleans and null compare by name
  ['$.active == "true"', '{"active": true}', true], ['$.active == true', '{"active": true}', true],
  ['$.active == false', '{"active": true}', false], ['$.active != true', '{"active": false}', true],
  ['$.x == null', '{"x": null}', true], ['$.x == ""', '{"x": null}', false],
  ['$.active == 1', '{"active": true}', false], ['$.active != 1', '{"active": true}', false],
  // number against text that is not a number: incomparable, no match for any operator
  ['$.temp > 5', '{"temp": "hot"}', false], ['$.temp < 5', '{"temp": "hot"}', false],
  ['$.temp == 5', '{"temp": "hot"}', false], ['$.temp != 5', '{"temp": "hot"}', false],
  ['$.temp > "5"', '{"temp": 85}', false], ['$.temp < "a"', '{"temp": 85}', false],
  // objects, arrays, missing paths, prototype keys
  ['$.obj == 1', '{"obj": {"a": 1}}', false], ['$.obj != 1', '{"obj": {"a": 1}}', false],
  ['$.arr != "x"', '{"arr": [1]}', false], ['$ != 1', '[1]', false],
  ['$.nonexistent > 0', '{"value": 90}', false], ['$.nonexistent != 0', '{"value": 90}', false],
  ['$.a.b > 0', '{"a": 5}', false], ['$.s.length == 3', '{"s": "abc"}', false],
  ['$.arr.length == 2', '{"arr": [1, 2]}', false], ['$.constructor != 1', '{}', false],
  ['$.toString == x', '{"a": 1}', false], ['$.__proto__ != 1', '{"a": 1}', false],
  ['$.__proto__ == 5', '{"__proto__": 5}', true], ['$.a.hasOwnProperty != x', '{"a": {}}', false],
  // invalid JSON
  ['$.value > 0', 'not json', false], ['$.value > 0', '{"value": 1', false], ['$ == ok', 'ok', false],
  // NaN, Infinity, overflow
  ['> 0', 'NaN', false], ['< 0', 'NaN', false], ['== 0', 'NaN', false], ['!= 0', 'NaN', false],
  ['> 0', 'Infinity', false], ['< 0', '-Infinity', false], ['> 0', '1e999', false],
  ['== 1e999', '1e999', true], ['$.v > 0', '{"v": 1e999}', false], ['$.v != 0', '{"v": 1e999}', false],
  ['$.v < 0', '{"v": -1e999}', false], ['$.v > 0', '{"v": "Infinity"}', false],
  ['$.v == NaN', '{"v": "NaN"}', true],
  // direct form: the whole payload text, trimmed
  ['> 0', '1', true], ['> 0', '0', false], ['> 0', '-1', false], ['>= 5', '5', true],
  ['< 100', '100', false], ['== 42', ' 42\n', true], ['!= 0', '1', true], ['> 3.14', '3.15', true],
  ['> 0', 'not a number', false], ['== ok', 'ok', true], ['== "ok"', ' ok ', true],
  ['== "ok"', '"ok"', false], ['== 1', '1.0', true], ['== "1"', '1.0', false], ['> 0', '{"v": 1}', false],
  // spacing
  ['  $.value>85  ', '{"value": 90}', true], ['$.value\t>=\t85', '{"value": 85}', true],
  ['$.a.b==1', '{"a": {"b": 1}}', true],
];

for (const { name, evaluate } of IMPLEMENTATIONS) {
  describe(`condition table (${name})`, () => {
    for (const [condition, payload, expected] of CASES) {
      test(`${JSON.stringify(condition)} on ${JSON.stringify(payload) ?? 'no payload'} → ${expected}`, () => {
        assert.equal(evaluate(condition, payload), expected);
      });
    }
  });
}

// [condition, what the error must say]
const COMPILE_ERRORS: ReadonlyArray<readonly [string, RegExp]> = [
  ['$.a..b == 1', /empty path segment/], ['$. == 1', /empty path segment/], ['$.a. == 1', /empty path segment/],
  ['$.a = 1', /"=" is not an operator; did you mean "=="/], ['$.a ! 1', /"!" is not an operator; did you mean "!="/],
  ['$.a => 1', /"=" is not an operator/], ['$.a >', /missing comparand after ">"/],
  ['$.a ==   ', /missing comparand after "=="/], ['>', /missing comparand/],
  ['value > 1', /must start with "\$"/], ['temp.value>=3', /must start with "\$"/],
  ['$foo == 1', /not a path/], ['$ .a == 1', /not a path/], ['$.a b == 1', /not a path/],
  ['$.a] == 1', /not a path/], ['$.a[x] == 1', /bad index/], ['$.a[01] == 1', /bad index/],
  ['$.a[-1] == 1', /bad index/], ['$.a[] == 1', /bad index/], ['$.a', /no comparison operator/],
  ['hello world', /no comparison operator/], ['$.a === 1', /comparand "= 1" starts with "="/],
  ['$.a <> 1', /starts with ">"/], ['  $.a..b > 1  ', /empty path segment/],
];

describe('compile errors', () => {
  for (const [condition, message] of COMPILE_ERRORS) {
    test(JSON.stringify(condition), () => {
      const compiled = compileCondition(condition);
      assert.equal(compiled.ok, false);
      if (compiled.ok) return;
      assert.match(compiled.error, message);
      assert.ok(compiled.error.includes(JSON.stringify(condition.trim())), 'the message quotes the condition');
      for (const payload of ['{"a": 1}', '1', undefined]) {
        assert.equal(evaluateConditionReference(condition, payload), false);
      }
    });
  }
});

describe('Payload', () => {
  test('json() is NOT_JSON for missing, blank and invalid text', () => {
    for (const text of [undefined, '', '  \t', 'nope', '{"a":', '1e999x']) {
      assert.equal(new Payload(text).json(), NOT_JSON);
    }
  });

  test('parses once however many conditions look at it', () => {
    const conditions = ['$.a > 1', '$.a < 5', '$.b == "x"', '$ != 1' /* object: incomparable */, '> 0', '$.c.d != 3'];
    const tests = conditions.map((c) => compileCondition(c)).flatMap((c) => (c.ok ? [c.test] : []));
    assert.equal(tests.length, conditions.length);
    const realParse = JSON.parse;
    let parses = 0;
    JSON.parse = (...args: Parameters<typeof JSON.parse>) => {
      parses++;
      return realParse(...args) as unknown;
    };
    try {
      const payload = new Payload('{"a": 2, "b": "x", "c": {"d": 4}}');
      assert.deepEqual(tests.map((t) => t(payload)), [true, true, true, false, false, true]);
      assert.equal(parses, 1);
    } finally {
      JSON.parse = realParse;
    }
  });
});

describe('properties', () => {
  test('compiled agrees with the reference on generated conditions and payloads', () => {
    fc.assert(
      fc.property(condition, payload, (c, p) => evaluateCompiled(c, p) === evaluateConditionReference(c, p)),
      { numRuns: 20000 },
    );
  });

  test('keys a payload does not own never resolve, prototype names included', () => {
    const inherited = fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'name', 'length');
    const protoPath = fc.array(inherited, { minLength: 1, maxLength: 3 }).map((keys) => `$.${keys.join('.')}`);
    const bare = fc.constantFrom('{}', '[]', '{"a": {}}', '"text"', '1', 'true', 'null');
    fc.assert(
      fc.property(protoPath, operator, comparand, bare, (p, op, c, body) => {
        const cond = `${p} ${op} ${c}`;
        return !evaluateCompiled(cond, body) && !evaluateConditionReference(cond, body);
      }),
      { numRuns: 2000 }, // `$.__proto__.__proto__ == null` is the one walk that would reach a value
    );
  });

  test('arbitrary strings never throw and the two still agree', () => {
    const noisy = fc.oneof(fc.string(), fc.string({ unit: fc.constantFrom(...'$.[]0a1 "<>=!\t{}:') }));
    fc.assert(
      fc.property(noisy, fc.option(fc.oneof(noisy, fc.string({ unit: 'binary' })), { nil: undefined }), (c, p) => {
        return evaluateCompiled(c, p) === evaluateConditionReference(c, p);
      }),
      { numRuns: 3000 },
    );
  });

  test('one shared Payload gives the same answers as a fresh one per condition', () => {
    fc.assert(
      fc.property(fc.array(condition, { maxLength: 6 }), payload, (cs, p) => {
        const shared = new Payload(p);
        return cs.every((c) => {
          const compiled = compileCondition(c);
          return !compiled.ok || compiled.test(shared) === compiled.test(new Payload(p));
        });
      }),
    );
  });

  test('a quoted comparand matches its own text exactly, operators and quotes included', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const payloadText = JSON.stringify({ msg: s });
        return evaluateCompiled(`$.msg == "${s}"`, payloadText) && !evaluateCompiled(`$.msg != "${s}"`, payloadText);
      }),
    );
  });

  test('finite numbers compare exactly as JavaScript compares them', () => {
    const finite = fc.double({ noNaN: true, noDefaultInfinity: true });
    const ops = { '>=': (a: number, b: number) => a >= b, '<=': (a: number, b: number) => a <= b,
      '!=': (a: number, b: number) => a !== b, '==': (a: number, b: number) => a === b,
      '>': (a: number, b: number) => a > b, '<': (a: number, b: number) => a < b } as const;
    fc.assert(
      fc.property(finite, fc.constantFrom(...(Object.keys(ops) as Array<keyof typeof ops>)), finite, (a, op, b) => {
        const expected = ops[op](a, b);
        return evaluateCompiled(`$.v ${op} ${String(b)}`, JSON.stringify({ v: a })) === expected &&
          evaluateCompiled(`${op} ${String(b)}`, String(a)) === expected;
      }),
    );
  });
});
