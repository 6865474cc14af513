import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { topicMatchesFilter, validateTopicFilter } from '../src/expressions/topic.js';
import { TopicTrie } from '../src/match/topic-trie.js';

describe('validateTopicFilter', () => {
  const valid = [
    '#',
    '+',
    '/',
    'a',
    'sport/tennis/player1',
    'sport/tennis/player1/#',
    'sport/+/player1',
    '+/+',
    '/+',
    '+/#',
    'a//b',
    'a/',
    '$SYS/#',
    'with space/and-dash',
    'ünïcode/топик',
  ];
  for (const filter of valid) {
    it(`accepts ${JSON.stringify(filter)}`, () => {
      assert.equal(validateTopicFilter(filter), null);
    });
  }

  const invalid: [string, RegExp][] = [
    ['', /empty/],
    ['a\u0000b', /NUL/],
    ['sport/tennis#', /"#" must occupy a whole level/],
    ['sport/#/ranking', /"#" must be the last level/],
    ['#/', /"#" must be the last level/],
    ['##', /"#" must occupy a whole level/],
    ['sport+', /"\+" must occupy a whole level/],
    ['sport/+tennis/x', /"\+" must occupy a whole level/],
    ['++', /"\+" must occupy a whole level/],
    ['a/+#', /"#" must occupy a whole level/],
  ];
  for (const [filter, message] of invalid) {
    it(`rejects ${JSON.stringify(filter)}`, () => {
      const problem = validateTopicFilter(filter);
      assert.ok(problem !== null, 'expected a problem');
      assert.match(problem, message);
    });
  }
});

// [filter, topic, matches]; the first block is MQTT 3.1.1 §4.7's own examples.
const cases: [string, string, boolean][] = [
  // §4.7.1.2 multi-level wildcard
  ['sport/tennis/player1/#', 'sport/tennis/player1', true],
  ['sport/tennis/player1/#', 'sport/tennis/player1/ranking', true],
  ['sport/tennis/player1/#', 'sport/tennis/player1/score/wimbledon', true],
  ['sport/#', 'sport', true],
  ['#', 'sport/tennis', true],
  // §4.7.1.3 single-level wildcard
  ['sport/tennis/+', 'sport/tennis/player1', true],
  ['sport/tennis/+', 'sport/tennis/player2', true],
  ['sport/tennis/+', 'sport/tennis/player1/ranking', false],
  ['sport/+', 'sport', false],
  ['sport/+', 'sport/', true],
  ['sport/+', 'sport/tennis/player1', false],
  ['+/+', '/finance', true],
  ['/+', '/finance', true],
  ['+', '/finance', false],
  ['+/tennis/#', 'sport/tennis/player1', true],
  ['sport/+/player1', 'sport/tennis/player1', true],
  // §4.7.2 topics beginning with $
  ['#', '$SYS/x', false],
  ['#', '$SYS', false],
  ['+/monitor/Clients', '$SYS/monitor/Clients', false],
  ['$SYS/#', '$SYS/x', true],
  ['$SYS/#', '$SYS', true],
  ['$SYS/monitor/+', '$SYS/monitor/Clients', true],
  ['+/#', '$SYS/x', false],
  ['a/+', 'a/$x', true],
  ['a/#', 'a/$x/y', true],
  // §4.7.3 levels, case and separators
  ['sport/#', 'sport/', true],
  ['sport/#', 'sports', false],
  ['Sport', 'sport', false],
  ['/', '/', true],
  ['+/+', '/', true],
  ['+', '', false],
  ['#', '', false],
  ['#', '/', true],
  ['a//b', 'a//b', true],
  ['a/+/b', 'a//b', true],
  ['a/b', 'a/b/', false],
  ['a/b/', 'a/b', false],
  ['+/#', 'sport', true],
  ['+', 'sport', true],
  ['sport/tennis', 'sport/tennis', true],
  ['sport/tennis', 'sport/tenni', false],
  ['plant/+/line3/+/temp', 'plant/site1/line3/s7/temp', true],
  ['plant/+/line3/+/temp', 'plant/site1/line2/s7/temp', false],
  ['with space', 'with space', true],
  // invalid filters match nothing
  ['sport/#/x', 'sport/a/x', false],
  ['sport+', 'sport+', false],
  ['', '', false],
];

describe('topic matching: one case table, reference and trie', () => {
  for (const [filter, topic, expected] of cases) {
    it(`${JSON.stringify(filter)} ${expected ? 'matches' : 'does not match'} ${JSON.stringify(topic)}`, () => {
      assert.equal(topicMatchesFilter(filter, topic), expected, 'topicMatchesFilter');
      const trie = new TopicTrie<string>();
      if (validateTopicFilter(filter) === null) trie.add(filter, filter);
      assert.deepEqual(trie.match(topic), expected ? [filter] : [], 'TopicTrie');
    });
  }

  it('a trie holding every filter of the table gives, per topic, exactly the matching ones', () => {
    const trie = new TopicTrie<string>();
    const filters = [...new Set(cases.map(([f]) => f))].filter((f) => validateTopicFilter(f) === null);
    for (const f of filters) trie.add(f, f);
    assert.equal(trie.size, filters.length);
    for (const topic of new Set(cases.map(([, t]) => t))) {
      const expected = filters.filter((f) => topicMatchesFilter(f, topic)).sort();
      assert.deepEqual(trie.match(topic).sort(), expected, `topic ${JSON.stringify(topic)}`);
    }
  });

  it('keeps every value added under the same filter', () => {
    const trie = new TopicTrie<number>();
    trie.add('a/#', 1);
    trie.add('a/#', 2);
    trie.add('a/+', 3);
    trie.add('a/+', 4);
    assert.deepEqual(trie.match('a/b').sort(), [1, 2, 3, 4]);
    assert.deepEqual(trie.match('a').sort(), [1, 2]);
  });

  it('refuses an invalid filter', () => {
    assert.throws(() => new TopicTrie<number>().add('a/#/b', 1), /last level/);
  });
});

describe('topic matching properties', () => {
  const level = fc.constantFrom('a', 'b', '', '$s', '$SYS', '+', '#', 'a+', 'x#');
  const filterArb = fc.array(level, { minLength: 1, maxLength: 5 }).map((l) => l.join('/'));
  const topicArb = fc
    .array(fc.constantFrom('a', 'b', '', '$s', '$SYS', 'c'), { minLength: 1, maxLength: 5 })
    .map((l) => l.join('/'));

  it('the trie agrees with topicMatchesFilter on random filter sets and topics', () => {
    fc.assert(
      fc.property(fc.array(filterArb, { maxLength: 20 }), fc.array(topicArb, { minLength: 1, maxLength: 10 }), (filters, topics) => {
        const trie = new TopicTrie<number>();
        filters.forEach((f, i) => {
          if (validateTopicFilter(f) === null) trie.add(f, i);
        });
        for (const topic of topics) {
          const expected = filters.flatMap((f, i) => (topicMatchesFilter(f, topic) ? [i] : []));
          assert.deepEqual(trie.match(topic).sort((x, y) => x - y), expected);
        }
      }),
      { numRuns: 500 },
    );
  });
});
