import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { renderTemplate } from '../src/executors/template.js';
import { unknownPlaceholders } from '../src/sop/placeholders.js';
import type { StepContext } from '../src/executors/types.js';
import type { GatewayEvent } from '../src/core/events.js';
import { stepContext } from './helpers/step-context.js';

const ctx = (event: Partial<GatewayEvent> = {}, outputs: [number, string][] = []): StepContext =>
  stepContext({ runId: 'run-42', stepNumber: 2, totalSteps: 3, outputs: new Map(outputs) }, event);

const PAYLOAD = JSON.stringify({
  temp: 91.5,
  name: 'fan 2',
  ok: false,
  none: null,
  list: [10, { deep: 'x' }],
  obj: { a: 1, b: [true] },
});
const text = (template: string, event: Partial<GatewayEvent> = { payload: PAYLOAD }) =>
  renderTemplate(template, ctx(event), 'text');

describe('renderTemplate: values', () => {
  it('inserts the raw payload, or nothing when there is none', () => {
    assert.equal(text('got {{payload}}', { payload: ' 1\n' }), 'got  1\n');
    assert.equal(text('got {{payload}}!', {}), 'got !');
  });

  it('follows dot paths: strings as-is, scalars as JSON text, containers as compact JSON', () => {
    assert.equal(text('{{payload.name}}'), 'fan 2');
    assert.equal(text('{{payload.temp}}'), '91.5');
    assert.equal(text('{{payload.ok}}/{{payload.none}}'), 'false/null');
    assert.equal(text('{{payload.list.0}} {{payload.list.1.deep}}'), '10 x');
    assert.equal(text('{{payload.obj}}'), '{"a":1,"b":[true]}');
    assert.equal(text('{{payload.obj.b.0}}'), 'true');
    assert.equal(text('{{payload.0}}', { payload: '["first"]' }), 'first');
  });

  it('gives nothing for missing paths, odd indexes, inherited properties and invalid JSON', () => {
    for (const path of ['missing', 'list.2', 'list.01', 'list.-1', 'name.0', 'temp.x', 'constructor', '__proto__', 'obj.toString', 'list.length']) {
      assert.equal(text(`[{{payload.${path}}}]`), '[]', path);
    }
    assert.equal(text('[{{payload.a}}]', { payload: '{"a":' }), '[]');
    assert.equal(text('[{{payload.a}}]', {}), '[]');
  });

  it('inserts run, SOP, step outputs and trigger fields', () => {
    const c = ctx({ source: 'webhook', topic: '/sop/fan' }, [[1, 'step one said hi']]);
    assert.equal(
      renderTemplate('{{run.id}} {{sop.name}} {{trigger.source}} {{trigger.topic}} <{{steps.1.output}}> <{{steps.2.output}}>', c, 'text'),
      'run-42 fan-alarm webhook /sop/fan <step one said hi> <>',
    );
    assert.equal(renderTemplate('<{{trigger.topic}}>', ctx({ source: 'manual' }), 'text'), '<>');
  });

  it('allows whitespace inside the braces', () => {
    assert.equal(text('{{ run.id }}|{{\tpayload.name  }}'), 'run-42|fan 2');
  });

  it('leaves unknown placeholders untouched', () => {
    const template = '{{foo}} {{ run.foo }} {{steps.0.output}} {{steps.x.output}} {{payload.}} {{payload..a}} {{payload.a b}} {{}}';
    assert.equal(text(template), template);
  });

  it('never re-scans inserted values', () => {
    assert.equal(text('{{payload}}', { payload: '{{run.id}}' }), '{{run.id}}');
    const c = ctx({ payload: '{"a":"{{sop.name}}"}' }, [[1, '{{payload}}']]);
    assert.equal(renderTemplate('{{steps.1.output}} {{payload.a}}', c, 'text'), '{{payload}} {{sop.name}}');
  });
});

describe('renderTemplate: escaping', () => {
  it("json mode escapes quotes, backslashes and control characters, not the template's own text", () => {
    const payload = 'he said "hi" \\ back\nslash\t\u0001';
    const out = renderTemplate('{"msg": "{{payload}}", "run": "{{run.id}}"}', ctx({ payload }), 'json');
    assert.deepEqual(JSON.parse(out), { msg: payload, run: 'run-42' });
  });

  it('json mode keeps a payload from breaking out of its string literal', () => {
    const payload = '", "admin": true, "x": "';
    assert.deepEqual(JSON.parse(renderTemplate('{"m":"{{payload}}"}', ctx({ payload }), 'json')), { m: payload });
  });

  it('json mode: any payload string round-trips through a string literal', () => {
    // Every UTF-16 code unit, lone surrogates included.
    const unit = fc.integer({ min: 0, max: 0xffff }).map((n) => String.fromCharCode(n));
    fc.assert(
      fc.property(fc.string({ unit }), (payload) => {
        const out = renderTemplate('{"m":"{{payload}}"}', ctx({ payload }), 'json');
        assert.deepEqual(JSON.parse(out), { m: payload });
      }),
    );
  });

  it('url mode percent-encodes inserted values as one component', () => {
    const c = ctx({ payload: '{"name":"a/b c?&=é","q":"x#y"}' });
    assert.equal(
      renderTemplate('http://h/x/{{payload.name}}?q={{payload.q}}', c, 'url'),
      'http://h/x/a%2Fb%20c%3F%26%3D%C3%A9?q=x%23y',
    );
  });

  it('url mode does not throw on lone surrogates', () => {
    assert.equal(renderTemplate('/{{payload}}', ctx({ payload: 'a\uD800b' }), 'url'), '/a%EF%BF%BDb');
  });
});

describe('unknownPlaceholders', () => {
  it('lists each unknown placeholder once, as written inside the braces', () => {
    assert.deepEqual(unknownPlaceholders('{{ paylod.x }} {{run.id}} {{foo}} {{ foo }} {{steps.0.output}}'), [
      'paylod.x',
      'foo',
      'steps.0.output',
    ]);
  });

  it('is empty when every placeholder is known', () => {
    assert.deepEqual(
      unknownPlaceholders('{{payload}} {{payload.a.0}} {{run.id}} {{sop.name}} {{steps.12.output}} {{trigger.source}} {{trigger.topic}} plain { text }'),
      [],
    );
  });
});
