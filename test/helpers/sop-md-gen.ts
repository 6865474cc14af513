// Random SOP.md documents of the ordinary kind (steps with titles, sub-bullets, prose,
// fences, quotes, headings, nested lists; blank lines or none between them), for tests
// that compare the line reader with the CommonMark reading.
import fc from 'fast-check';

const word = fc.constantFrom('fan', 'Check', 'the', 'relay', '`code`', '*slow*', '_em_', '[docs](http://d)', 'a-b', '42', 'état', 'x_y', 'x<b>y', 'a:b');
const words = fc.array(word, { minLength: 1, maxLength: 5 }).map((w) => w.join(' '));

const title = fc.oneof(
  fc.tuple(words, fc.constantFrom(' — ', ' - ', ' – ', ': ', ' '), fc.option(words, { nil: '' })).map(([t, sep, b]) => `**${t}**${b === '' ? '' : sep + b}`),
  words,
  fc.constant(''),
);

const keyBullet = fc.oneof(
  fc.array(fc.constantFrom('shell', 'log', ' ', 'http_request'), { maxLength: 3 }).map((t) => `tools: ${t.join(',')}`),
  fc.constantFrom('requires_confirmation: true', 'Requires_Confirmation: TRUE', 'requires_confirmation: no'),
  fc.constantFrom('on_failure: continue', 'on_failure: retry 2', 'on_failure: sometimes', 'timeout_secs: 5', 'timeout_secs: 0', '**tools**: log'),
);

const fence = fc.oneof(
  fc.constant(['```shell', 'echo hi', '', 'echo there', '```']),
  fc.constant(['```log', 'message = "hello"', '```']),
  fc.constant(['```delay', 'seconds = -1', '```']),
  fc.constant(['~~~json', '{"a": 1}', '~~~']),
  fc.constant(['```', 'plain', '```']),
);

/** One block of a step, as lines to be indented by the caller. */
const block = fc.oneof(
  keyBullet.map((k) => [`- ${k}`]),
  words.map((w) => [`- ${w}`]),
  fc.tuple(words, words).map(([a, b]) => [`- ${a}`, `  - ${b}`]),
  // Nested keys: only one whose order does not matter (the CommonMark reading applies a
  // list's own keys before those nested in it; the line reader goes by line order).
  fc.tuple(words, fc.constantFrom('requires_confirmation: true', 'requires_confirmation: false')).map(([a, k]) => [`- ${a}`, `  - ${k}`]),
  words.map((w) => [`${w}.`]),
  fc.tuple(words, words).map(([a, b]) => [`${a}`, `${b}.`]),
  fence,
  words.map((w) => [`> ${w}`]),
  fc.constant(['### Details']),
  fc.constant(['1. first', '2. second']),
);

const indented = fc.tuple(block, fc.constantFrom(0, 3), fc.constantFrom('', '\n')).map(([lines, n, gap]) => gap + lines.map((l) => (l === '' ? '' : ' '.repeat(n) + l)).join('\n'));

const step = fc.tuple(fc.constantFrom('.', ')'), fc.boolean(), title, fc.array(indented, { maxLength: 4 }), fc.constantFrom('', '\n'));

export const sopMarkdown = fc
  .tuple(
    fc.constantFrom('', '# Fan\n\nIntro.\n\n', '# Fan\n'),
    fc.constantFrom('## Steps', '## steps', 'Steps\n-----', '## Steps ##'),
    fc.array(step, { minLength: 1, maxLength: 6 }),
    fc.constantFrom('', '\n## Notes\n\n1. **Not a step**\n', '\n# Appendix\n'),
  )
  .map(([pre, heading, steps, post]) => {
    const body = steps
      .map(([delim, renumber, t, blocks, gap], i) => `${renumber ? i + 2 : i + 1}${delim} ${t}`.trimEnd() + (blocks.length > 0 ? `\n${blocks.join('\n')}` : '') + gap)
      .join('\n');
    return `${pre}${heading}\n\n${body}\n${post}`;
  });
