// MQTT topic filters (MQTT 3.1.1 §4.7 / MQTT 5.0 §4.7): validation and a plain
// reference matcher. The compiled index (topic-trie.ts) must agree with
// `topicMatchesFilter` on every input; the tests run one case table over both.

/**
 * Why a topic filter is not valid, or null when it is.
 * Checks the rules a SOP author can break; the 65,535-byte length limit is left
 * out because no SOP file comes near it.
 */
export function validateTopicFilter(filter: string): string | null {
  // §4.7.3: "All Topic Names and Topic Filters MUST be at least one character long" [MQTT-4.7.3-1].
  if (filter.length === 0) return 'topic filter is empty';
  // §4.7.3: "Topic Names and Topic Filters MUST NOT include the null character (Unicode U+0000)" [MQTT-4.7.3-2].
  if (filter.includes('\u0000')) return `topic filter "${printable(filter)}" contains a NUL character`;
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i]!;
    if (level.includes('#')) {
      // §4.7.1.2: "#" MUST be specified either on its own or following a topic level separator,
      // and MUST be the last character of the filter [MQTT-4.7.1-2].
      if (level !== '#') {
        return `topic filter "${filter}": "#" must occupy a whole level (found "${level}")`;
      }
      if (i !== levels.length - 1) {
        return `topic filter "${filter}": "#" must be the last level`;
      }
    }
    // §4.7.1.3: "+" MUST occupy an entire level of the filter [MQTT-4.7.1-3].
    if (level.includes('+') && level !== '+') {
      return `topic filter "${filter}": "+" must occupy a whole level (found "${level}")`;
    }
  }
  return null;
}

/**
 * Whether `topic` (a topic name, as published) matches `filter`.
 * An invalid filter or an empty topic (not a valid topic name, §4.7.3) matches nothing.
 * Wildcard characters inside the topic name are compared literally: topic names
 * cannot contain them (§4.7.1), so a broker never hands us one.
 */
export function topicMatchesFilter(filter: string, topic: string): boolean {
  if (topic.length === 0 || validateTopicFilter(filter) !== null) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  // §4.7.2: a filter starting with a wildcard MUST NOT match a topic name starting with "$"
  // [MQTT-4.7.2-1]; "$SYS/#" and "$SYS/+" still match "$SYS/..." topics.
  if (topic.startsWith('$') && (f[0] === '#' || f[0] === '+')) return false;
  for (let i = 0; i < f.length; i++) {
    const level = f[i]!;
    // §4.7.1.2: "#" matches the parent level and any number of child levels, so
    // "sport/tennis/#" matches "sport/tennis" as well as "sport/tennis/x/y".
    if (level === '#') return true;
    if (i >= t.length) return false;
    // §4.7.1.3: "+" matches exactly one level, which may be empty ("sport/+" matches "sport/").
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}

function printable(text: string): string {
  return text.replace(/\u0000/g, '\\u0000');
}
