import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { EventSource, GatewayEvent } from '../src/core/events.js';
import { Matcher } from '../src/match/matcher.js';
import { referenceMatch } from '../src/match/reference.js';
import type { SopDefinition, Trigger } from '../src/sop/types.js';
import { sop as definition } from './helpers/engine.js';

function sop(name: string, ...triggers: Trigger[]): SopDefinition {
  return definition(name, { triggers, steps: [] });
}

function ev(source: EventSource, topic?: string, payload?: string): GatewayEvent {
  const event: GatewayEvent = { source, timestamp: '2025-01-01T00:00:00.000Z' };
  if (topic !== undefined) event.topic = topic;
  if (payload !== undefined) event.payload = payload;
  return event;
}

const mqtt = (topic: string, condition?: string): Trigger =>
  condition === undefined ? { type: 'mqtt', topic } : { type: 'mqtt', topic, condition };
const peripheral = (board: string, signal: string, condition?: string): Trigger =>
  condition === undefined ? { type: 'peripheral', board, signal } : { type: 'peripheral', board, signal, condition };
const webhook = (path: string): Trigger => ({ type: 'webhook', path });
const cron = (expression: string): Trigger => ({ type: 'cron', expression });
const manual: Trigger = { type: 'manual' };

// One set with every trigger type; most cases use it.
const plant: SopDefinition[] = [
  sop('overheat', mqtt('plant/+/line3/+/temp', '$.value >= 85')),
  sop('any-temp', mqtt('plant/#')),
  sop('critical', mqtt('alerts/#', '$.status == "critical"'), manual),
  sop('deploy', webhook('/sop/deploy'), manual),
  sop('nightly', cron('0 2 * * *')),
  sop('door', peripheral('pi', 'door', '> 0')),
  sop('button', peripheral('pi', 'button')),
  sop('exact', mqtt('plant/s1/line3/m7/temp')),
  sop('sys', mqtt('$SYS/#')),
];

type Case = [label: string, sops: SopDefinition[], event: GatewayEvent, expected: string[]];

const cases: Case[] = [
  // mqtt
  ['mqtt: + and # and exact filters with a true condition', plant, ev('mqtt', 'plant/s1/line3/m7/temp', '{"value": 90}'), ['overheat', 'any-temp', 'exact']],
  ['mqtt: condition false leaves the other filters', plant, ev('mqtt', 'plant/s1/line3/m7/temp', '{"value": 20}'), ['any-temp', 'exact']],
  ['mqtt: # matches the parent level', plant, ev('mqtt', 'plant'), ['any-temp']],
  ['mqtt: + does not match two levels', plant, ev('mqtt', 'plant/s1/line3/a/b/temp', '{"value": 99}'), ['any-temp']],
  ['mqtt: string condition true', plant, ev('mqtt', 'alerts/boiler', '{"status":"critical"}'), ['critical']],
  ['mqtt: string condition false', plant, ev('mqtt', 'alerts/boiler', '{"status":"ok"}'), []],
  ['mqtt: missing payload fails a condition closed', plant, ev('mqtt', 'alerts/boiler'), []],
  ['mqtt: invalid JSON fails a condition closed', plant, ev('mqtt', 'alerts/boiler', '{"status":'), []],
  ['mqtt: no topic matches nothing', plant, ev('mqtt', undefined, '{"value": 90}'), []],
  ['mqtt: empty topic matches nothing', [sop('all', mqtt('#'))], ev('mqtt', ''), []],
  ['mqtt: $ topics only match $ filters', [sop('all', mqtt('#')), sop('plus', mqtt('+/x')), ...plant], ev('mqtt', '$SYS/x'), ['sys']],
  ['mqtt: unrelated topic', plant, ev('mqtt', 'office/temp', '{"value": 90}'), []],
  // webhook
  ['webhook: exact path', plant, ev('webhook', '/sop/deploy', 'anything'), ['deploy']],
  ['webhook: no prefix or trailing-slash match', plant, ev('webhook', '/sop/deploy/'), []],
  ['webhook: no topic', plant, ev('webhook'), []],
  // cron
  ['cron: same expression', plant, ev('cron', '0 2 * * *'), ['nightly']],
  ['cron: whitespace-normalised', plant, ev('cron', '  0   2 *\t* * '), ['nightly']],
  ['cron: other expression', plant, ev('cron', '0 3 * * *'), []],
  ['cron: empty expression never matches', [sop('empty', cron('  '))], ev('cron', ''), []],
  // peripheral
  ['peripheral: condition true', plant, ev('peripheral', 'pi/door', '1'), ['door']],
  ['peripheral: condition false', plant, ev('peripheral', 'pi/door', '0'), []],
  ['peripheral: no condition', plant, ev('peripheral', 'pi/button'), ['button']],
  ['peripheral: other board', plant, ev('peripheral', 'pi2/door', '1'), []],
  // manual
  ['manual: by name', plant, ev('manual', 'deploy'), ['deploy']],
  ['manual: a SOP without a manual trigger', plant, ev('manual', 'nightly'), []],
  ['manual: unknown name', plant, ev('manual', 'nope'), []],
  ['manual: no name means every manual SOP', plant, ev('manual'), ['critical', 'deploy']],
  // sources never cross
  ['mqtt event vs a webhook path', [sop('w', webhook('a/b')), sop('p', peripheral('a', 'b')), sop('c', cron('a/b'))], ev('mqtt', 'a/b', '1'), []],
  ['webhook event vs mqtt and peripheral', [sop('m', mqtt('/sop/x')), sop('p', peripheral('', 'sop/x'))], ev('webhook', '/sop/x'), []],
  ['peripheral event vs mqtt and webhook', [sop('m', mqtt('pi/door')), sop('w', webhook('pi/door'))], ev('peripheral', 'pi/door', '1'), []],
  ['cron event vs webhook', [sop('w', webhook('0 2 * * *'))], ev('cron', '0 2 * * *'), []],
  ['manual event vs mqtt-only SOP', [sop('m', mqtt('#'))], ev('manual', 'm'), []],
  // ordering and dedup
  [
    'order follows the SOP array, not names or trie order',
    [sop('zeta', mqtt('a/#')), sop('alpha', mqtt('a/b')), sop('mid', mqtt('+/b')), sop('first', mqtt('#'))],
    ev('mqtt', 'a/b'),
    ['zeta', 'alpha', 'mid', 'first'],
  ],
  [
    'order: reversed filters',
    [sop('s0', mqtt('#')), sop('s1', mqtt('+/b')), sop('s2', mqtt('a/b')), sop('s3', mqtt('a/#'))],
    ev('mqtt', 'a/b'),
    ['s0', 's1', 's2', 's3'],
  ],
  ['two matching triggers, one name', [sop('twice', mqtt('a/+'), mqtt('a/#'), mqtt('a/b'))], ev('mqtt', 'a/b'), ['twice']],
  ['two webhook triggers on one path, one name', [sop('w', webhook('/x'), webhook('/x'))], ev('webhook', '/x'), ['w']],
  ['two peripheral triggers, one name', [sop('p', peripheral('b', 's', '> 0'), peripheral('b', 's', '< 5'))], ev('peripheral', 'b/s', '3'), ['p']],
  ['first condition false, second true', [sop('p', mqtt('a', '$.v > 5'), mqtt('a', '$.v < 5'))], ev('mqtt', 'a', '{"v":1}'), ['p']],
  ['array index path', [sop('low', mqtt('r', '$.readings.0 < 10'))], ev('mqtt', 'r', '{"readings":[4,50]}'), ['low']],
  ['empty condition always matches', [sop('e', mqtt('a', ''))], ev('mqtt', 'a'), ['e']],
  // fail closed
  ['invalid condition never matches', [sop('bad', mqtt('a', '$.v >>> 1')), sop('ok', mqtt('a'))], ev('mqtt', 'a', '{"v":9}'), ['ok']],
  ['invalid peripheral condition never matches', [sop('bad', peripheral('b', 's', '$.v ~ 1'))], ev('peripheral', 'b/s', '{"v":1}'), []],
  ['invalid filter (# not last) never matches', [sop('bad', mqtt('a/#/c')), sop('ok', mqtt('a/+/c'))], ev('mqtt', 'a/b/c'), ['ok']],
  ['invalid filter (wildcard inside a level) never matches', [sop('bad', mqtt('a+')), sop('bad2', mqtt('a#'))], ev('mqtt', 'a+'), []],
  ['invalid empty filter never matches', [sop('bad', mqtt(''))], ev('mqtt', 'x'), []],
];

describe('matching: one case table, Matcher and referenceMatch', () => {
  for (const [label, sops, event, expected] of cases) {
    it(label, () => {
      assert.deepEqual(Matcher.build(sops).match(event), expected, 'Matcher');
      assert.deepEqual(referenceMatch(sops, event), expected, 'referenceMatch');
    });
  }

  it('reuses nothing across calls: results are fresh and independent', () => {
    const matcher = Matcher.build(plant);
    const first = matcher.match(ev('manual'));
    first.push('mutated');
    assert.deepEqual(matcher.match(ev('manual')), ['critical', 'deploy']);
    // Many events in a row: the dedup stamps must not leak between events.
    for (let i = 0; i < 1000; i++) {
      assert.deepEqual(matcher.match(ev('mqtt', 'plant/s1/line3/m7/temp', '{"value": 90}')), ['overheat', 'any-temp', 'exact']);
      assert.deepEqual(matcher.match(ev('mqtt', 'alerts/x', '{"status":"ok"}')), []);
    }
  });

  it('reports what it indexed and what it disabled', () => {
    const info = Matcher.build([...plant, sop('bad', mqtt('a/#/b'), mqtt('a', '$.v >>> 1'))]).info;
    assert.equal(info.sops, 10);
    assert.equal(info.mqttFilters, 5);
    assert.equal(info.disabledTriggers, 2);
    assert.equal(info.manualSops, 2);
  });
});

describe('payload parsing', () => {
  /** Counts JSON.parse calls made while `run` runs. */
  function countParses(run: () => void): number {
    const original = JSON.parse;
    let calls = 0;
    JSON.parse = function (this: unknown, ...args: Parameters<typeof JSON.parse>) {
      calls++;
      return original.apply(this, args);
    } as typeof JSON.parse;
    try {
      run();
    } finally {
      JSON.parse = original;
    }
    return calls;
  }

  // 50 SOPs whose conditions all look at the same payload, spread over + / # / exact filters.
  const many = Array.from({ length: 50 }, (_, i) =>
    sop(`s${i}`, mqtt(['a/+', 'a/#', 'a/b', '+/b'][i % 4]!, i % 2 === 0 ? `$.v >= ${i}` : `$.s == "x${i % 3}"`)),
  );

  it('the Matcher parses a JSON payload once however many conditions read it', () => {
    const matcher = Matcher.build(many);
    let names: string[] = [];
    const calls = countParses(() => {
      names = matcher.match(ev('mqtt', 'a/b', '{"v": 20, "s": "x1"}'));
    });
    assert.equal(calls, 1);
    assert.deepEqual(names, referenceMatch(many, ev('mqtt', 'a/b', '{"v": 20, "s": "x1"}')));
    assert.ok(names.length > 10);
  });

  it('the Matcher parses nothing when no trigger topic matches', () => {
    const matcher = Matcher.build(many);
    assert.equal(countParses(() => matcher.match(ev('mqtt', 'c/d', '{"v": 20}'))), 0);
    assert.equal(countParses(() => matcher.match(ev('webhook', 'a/b', '{"v": 20}'))), 0);
  });

  it('the counter is real: the reference parses once per condition it evaluates', () => {
    assert.ok(countParses(() => referenceMatch(many, ev('mqtt', 'a/b', '{"v": 20}'))) >= 50);
  });
});

// Random SOP sets and events, from small alphabets so that matches are common.
const levelArb = fc.constantFrom('a', 'b', '', '$s', '+', '#', 'a+');
const filterArb = fc.array(levelArb, { minLength: 1, maxLength: 4 }).map((l) => l.join('/'));
const topicArb = fc.array(fc.constantFrom('a', 'b', '', '$s', 'c'), { minLength: 1, maxLength: 4 }).map((l) => l.join('/'));
const conditionArb = fc.oneof(
  fc
    .tuple(
      fc.constantFrom('$.v', '$.s', '$.a.0', '$.a.1', '$.n.m', '$.missing', ''),
      fc.constantFrom('>', '<', '>=', '<=', '==', '!='),
      fc.constantFrom('5', '0', '-1.5', '"ok"', 'ok', '"5"', 'true', 'null', '" 5 "'),
      fc.constantFrom(' ', '', '  '),
    )
    .map(([path, op, value, gap]) => `${path}${gap}${op}${gap}${value}`.trim()),
  fc.constantFrom('', '  ', '$.', '$.v >', '>', 'v == 1', '$.v === 1', '$..v > 1', '$.v ~ 2', '== "ok"'),
);
const optionalCondition = fc.option(conditionArb, { freq: 2, nil: undefined });
const boardArb = fc.constantFrom('pi', 'pi/2', '');
const signalArb = fc.constantFrom('door', '2/door', 'btn');
const pathArb = fc.constantFrom('/sop/a', '/sop/b', '/webhook', '/sop/a/');
const cronArb = fc.constantFrom('0 2 * * *', ' 0  2 * * * ', '*/5 * * * * *', '', '@daily');
const triggerArb: fc.Arbitrary<Trigger> = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(filterArb, optionalCondition).map(([t, c]) => mqtt(t, c)) },
  { weight: 2, arbitrary: fc.tuple(boardArb, signalArb, optionalCondition).map(([b, s, c]) => peripheral(b, s, c)) },
  { weight: 1, arbitrary: pathArb.map(webhook) },
  { weight: 1, arbitrary: cronArb.map(cron) },
  { weight: 1, arbitrary: fc.constant(manual) },
);
const sopsArb = fc
  .array(fc.array(triggerArb, { maxLength: 4 }), { maxLength: 25 })
  .map((sets) => sets.map((triggers, i) => sop(`sop-${(i * 7) % 25}-${i}`, ...triggers)));
const payloadArb = fc.option(
  fc.oneof(
    fc
      .record(
        {
          v: fc.oneof(fc.integer({ min: -3, max: 8 }), fc.constantFrom('5', 'ok', ' 5 ', true, null)),
          s: fc.constantFrom('ok', 'bad', '5', 5),
          a: fc.array(fc.oneof(fc.integer({ min: -2, max: 7 }), fc.constant('ok')), { maxLength: 3 }),
          n: fc.record({ m: fc.integer({ min: 0, max: 9 }) }),
        },
        { requiredKeys: [] },
      )
      .map((o) => JSON.stringify(o)),
    fc.constantFrom('1', '0', ' 7 ', '-1.5', 'ok', '"ok"', '{', '', 'true', 'null', '[5]', '1e999'),
  ),
  { nil: undefined },
);
const sourceArb = fc.constantFrom<EventSource>('mqtt', 'mqtt', 'mqtt', 'peripheral', 'peripheral', 'webhook', 'cron', 'manual');
const eventArb: fc.Arbitrary<GatewayEvent> = fc
  .tuple(
    sourceArb,
    fc.option(fc.oneof(topicArb, fc.constantFrom('pi/door', 'pi/2/door', '/btn', '/sop/a', '0 2 * * *', '*/5  * * * * *', 'sop-0-0', '@daily')), { nil: undefined }),
    payloadArb,
  )
  .map(([source, topic, payload]) => ev(source, topic, payload));

/** Topics that some trigger of the set matches (wildcards filled in), so random events hit often. */
function topicsFor(sops: readonly SopDefinition[]): [EventSource, string][] {
  const topics: [EventSource, string][] = [];
  for (const s of sops) {
    for (const t of s.triggers) {
      if (t.type === 'mqtt') {
        // `#` filled with nothing stands for the parent level: "a/#" gives "a".
        for (const [plus, hash] of [['a', 'b'], ['', 'a/b'], ['$s', null]] as const) {
          const levels = t.topic.split('/').flatMap((l) => (l === '+' ? [plus] : l === '#' ? (hash === null ? [] : [hash]) : [l]));
          topics.push(['mqtt', levels.join('/')]);
        }
      } else if (t.type === 'peripheral') topics.push(['peripheral', `${t.board}/${t.signal}`]);
      else if (t.type === 'webhook') topics.push(['webhook', t.path]);
      else if (t.type === 'cron') topics.push(['cron', t.expression]);
      else topics.push(['manual', s.name]);
    }
  }
  return topics;
}

/**
 * A SOP set with events aimed at it: most at its own triggers' topics (mostly from the
 * trigger's own source, sometimes from another to test that sources never cross), the rest anywhere.
 */
const setWithEvents = (sopSets: fc.Arbitrary<SopDefinition[]>, sources: fc.Arbitrary<EventSource>) =>
  sopSets.chain((sops) => {
    const own = topicsFor(sops);
    const aimed =
      own.length === 0
        ? eventArb
        : fc
            .tuple(fc.constantFrom(...own), fc.option(sources, { freq: 4, nil: undefined }), payloadArb)
            .map(([[own, topic], other, payload]) => ev(other ?? own, topic, payload));
    return fc.tuple(fc.constant(sops), fc.array(fc.oneof({ weight: 3, arbitrary: aimed }, { weight: 1, arbitrary: eventArb }), { minLength: 1, maxLength: 15 }));
  });

describe('matching properties', () => {
  it('Matcher.match deep-equals referenceMatch on random SOP sets and events', () => {
    fc.assert(
      fc.property(setWithEvents(sopsArb, sourceArb), ([sops, events]) => {
        const matcher = Matcher.build(sops);
        for (const event of events) assert.deepEqual(matcher.match(event), referenceMatch(sops, event));
      }),
      { numRuns: 1000 },
    );
  });

  it('mqtt-only sets with many overlapping filters agree too', () => {
    const sops = fc
      .array(fc.array(fc.tuple(filterArb, optionalCondition).map(([t, c]) => mqtt(t, c)), { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 40 })
      .map((sets) => sets.map((triggers, i) => sop(`m${i}`, ...triggers)));
    fc.assert(
      fc.property(setWithEvents(sops, fc.constant<EventSource>('mqtt')), ([set, events]) => {
        const matcher = Matcher.build(set);
        for (const event of events) assert.deepEqual(matcher.match(event), referenceMatch(set, event));
      }),
      { numRuns: 500 },
    );
  });
});
