// A topic-filter index: one node per filter level, with the literal levels in a
// Map and the `+` and `#` wildcards in their own slots, so matching a topic walks
// at most (literal + `+`) branches per level instead of testing every filter.
// Must agree with `topicMatchesFilter` (topic.ts), which the tests check.
import { validateTopicFilter } from '../expressions/topic.js';

class TrieNode<T> {
  /** Literal child levels; created on first use because most leaves have none. */
  children: Map<string, TrieNode<T>> | null = null;
  /** The `+` child (§4.7.1.3). */
  plus: TrieNode<T> | null = null;
  /** Values of filters ending in `#` right below this node (§4.7.1.2): `#` is always last, so no node. */
  hash: T[] | null = null;
  /** Values of filters that end exactly at this node. */
  values: T[] | null = null;
}

export class TopicTrie<T> {
  private readonly root = new TrieNode<T>();
  private count = 0;

  /** Number of filters added. */
  get size(): number {
    return this.count;
  }

  /**
   * Adds `value` under `filter`. The filter must be valid (see validateTopicFilter):
   * callers validate first and report findings; adding an invalid one is a bug.
   */
  add(filter: string, value: T): void {
    const problem = validateTopicFilter(filter);
    if (problem !== null) throw new Error(problem);
    let node = this.root;
    for (const level of filter.split('/')) {
      if (level === '#') {
        (node.hash ??= []).push(value);
        this.count++;
        return;
      }
      if (level === '+') {
        node = node.plus ??= new TrieNode<T>();
        continue;
      }
      const children = (node.children ??= new Map());
      let child = children.get(level);
      if (child === undefined) {
        child = new TrieNode<T>();
        children.set(level, child);
      }
      node = child;
    }
    (node.values ??= []).push(value);
    this.count++;
  }

  /**
   * Appends to `out` the value of every filter that matches `topic` (a value
   * once per matching filter it was added under), in no particular order.
   * The only allocation is the one split of the topic.
   */
  collect(topic: string, out: T[]): void {
    // An empty string is not a topic name (§4.7.3, [MQTT-4.7.3-1]).
    if (topic.length === 0) return;
    const levels = topic.split('/');
    const root = this.root;
    // §4.7.2 [MQTT-4.7.2-1]: filters starting with a wildcard do not match "$" topics,
    // so the root's `+` and `#` slots are skipped for them; deeper wildcards still apply.
    if (topic.charCodeAt(0) === 0x24 /* $ */) {
      const child = root.children?.get(levels[0]!);
      if (child !== undefined) walk(child, levels, 1, out);
      return;
    }
    walk(root, levels, 0, out);
  }

  /** The values of every filter matching `topic`; allocates, so for tests and tools. */
  match(topic: string): T[] {
    const out: T[] = [];
    this.collect(topic, out);
    return out;
  }
}

/** Visits `node`, reached after consuming `levels[0 .. i-1]`. */
function walk<T>(node: TrieNode<T>, levels: string[], i: number, out: T[]): void {
  // `#` below this node matches the remaining levels, zero of them included (the parent).
  if (node.hash !== null) pushAll(out, node.hash);
  if (i === levels.length) {
    if (node.values !== null) pushAll(out, node.values);
    return;
  }
  if (node.children !== null) {
    const child = node.children.get(levels[i]!);
    if (child !== undefined) walk(child, levels, i + 1, out);
  }
  if (node.plus !== null) walk(node.plus, levels, i + 1, out);
}

function pushAll<T>(out: T[], values: T[]): void {
  for (let k = 0; k < values.length; k++) out.push(values[k]!);
}
