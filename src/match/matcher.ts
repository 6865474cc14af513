// The compiled matcher: built once per loaded SOP set, then asked
// for every event. Each trigger type gets the index that fits its rule — a topic
// trie for mqtt filters, exact-key Maps for the rest — and conditions are compiled
// here, so the hot path only walks the index and runs compiled tests. It must
// return what referenceMatch (reference.ts) returns; the tests hold it to that.
import type { GatewayEvent } from '../core/events.js';
import type { SopDefinition } from '../sop/types.js';
import { compileCondition } from '../expressions/condition.js';
import { cronKey } from '../expressions/cron.js';
import { Payload } from '../expressions/payload.js';
import { validateTopicFilter } from '../expressions/topic.js';
import { TopicTrie } from './topic-trie.js';

type ConditionTest = (payload: Payload) => boolean;

/** One mqtt or peripheral trigger: its SOP's index and its compiled condition (null: none). */
interface Entry {
  readonly sop: number;
  readonly test: ConditionTest | null;
}

export interface MatcherInfo {
  sops: number;
  mqttFilters: number;
  webhookPaths: number;
  peripheralSignals: number;
  cronExpressions: number;
  manualSops: number;
  /** Triggers left out because their filter or condition is invalid: they never match (fail closed). */
  disabledTriggers: number;
}

export class Matcher {
  readonly info: Readonly<MatcherInfo>;
  private readonly names: readonly string[];
  private readonly mqtt: TopicTrie<Entry>;
  private readonly peripheral: Map<string, Entry[]>;
  /** Triggers without conditions map straight to their answer, already in SOP order. */
  private readonly webhook: Map<string, readonly string[]>;
  private readonly cron: Map<string, readonly string[]>;
  private readonly manualByName: Map<string, readonly string[]>;
  private readonly manualAll: readonly string[];
  /** Dedup without a Set: stamps[sop] === generation means "already matched for this event". */
  private readonly stamps: Uint32Array;
  private generation = 0;
  /** Reused buffer for the trie's hits, so an mqtt event allocates no array of its own. */
  private readonly hits: Entry[] = [];

  private constructor(parts: {
    names: readonly string[];
    mqtt: TopicTrie<Entry>;
    peripheral: Map<string, Entry[]>;
    webhook: Map<string, readonly string[]>;
    cron: Map<string, readonly string[]>;
    manualByName: Map<string, readonly string[]>;
    manualAll: readonly string[];
    info: MatcherInfo;
  }) {
    this.names = parts.names;
    this.mqtt = parts.mqtt;
    this.peripheral = parts.peripheral;
    this.webhook = parts.webhook;
    this.cron = parts.cron;
    this.manualByName = parts.manualByName;
    this.manualAll = parts.manualAll;
    this.info = Object.freeze(parts.info);
    this.stamps = new Uint32Array(parts.names.length);
  }

  static build(sops: readonly SopDefinition[]): Matcher {
    const mqtt = new TopicTrie<Entry>();
    const peripheral = new Map<string, Entry[]>();
    const webhook = new Map<string, number[]>();
    const cron = new Map<string, number[]>();
    const manualByName = new Map<string, number[]>();
    const manualAll: number[] = [];
    // The same condition text in many SOPs compiles once; compiled tests are pure.
    // false = does not compile, so the trigger is left out (fail closed); null = no condition.
    const compiled = new Map<string, ConditionTest | false>();
    const compile = (condition: string | undefined): ConditionTest | null | false => {
      if (condition === undefined) return null;
      let test = compiled.get(condition);
      if (test === undefined) {
        const result = compileCondition(condition);
        test = result.ok ? result.test : false;
        compiled.set(condition, test);
      }
      return test;
    };
    let disabledTriggers = 0;

    sops.forEach((sop, index) => {
      for (const trigger of sop.triggers) {
        switch (trigger.type) {
          case 'mqtt': {
            const test = compile(trigger.condition);
            if (test === false || validateTopicFilter(trigger.topic) !== null) {
              disabledTriggers++;
              break;
            }
            mqtt.add(trigger.topic, { sop: index, test });
            break;
          }
          case 'peripheral': {
            const test = compile(trigger.condition);
            if (test === false) {
              disabledTriggers++;
              break;
            }
            pushTo(peripheral, `${trigger.board}/${trigger.signal}`, { sop: index, test });
            break;
          }
          case 'webhook':
            pushIndex(webhook, trigger.path, index);
            break;
          case 'cron': {
            // An empty expression is invalid and never fires (reference.ts says the same).
            const key = cronKey(trigger.expression);
            if (key === '') disabledTriggers++;
            else pushIndex(cron, key, index);
            break;
          }
          case 'manual':
            // Names are unique after loading; keyed lists keep this exact if they are not.
            pushIndex(manualByName, sop.name, index);
            if (manualAll[manualAll.length - 1] !== index) manualAll.push(index);
            break;
        }
      }
    });

    const names = sops.map((sop) => sop.name);
    const toNames = (indices: readonly number[]): readonly string[] => indices.map((i) => names[i]!);
    const nameMap = (map: Map<string, number[]>) =>
      new Map([...map].map(([key, indices]) => [key, toNames(indices)] as const));
    return new Matcher({
      names,
      mqtt,
      peripheral,
      webhook: nameMap(webhook),
      cron: nameMap(cron),
      manualByName: nameMap(manualByName),
      manualAll: toNames(manualAll),
      info: {
        sops: sops.length,
        mqttFilters: mqtt.size,
        webhookPaths: webhook.size,
        peripheralSignals: peripheral.size,
        cronExpressions: cron.size,
        manualSops: manualAll.length,
        disabledTriggers,
      },
    });
  }

  /** Names of the SOPs `event` starts, each once, in the order of the SOP array. */
  match(event: GatewayEvent): string[] {
    const { topic } = event;
    switch (event.source) {
      case 'mqtt': {
        if (topic === undefined) return [];
        const hits = this.hits;
        hits.length = 0;
        this.mqtt.collect(topic, hits);
        return this.evaluate(hits, event.payload);
      }
      case 'peripheral': {
        const entries = topic === undefined ? undefined : this.peripheral.get(topic);
        return entries === undefined ? [] : this.evaluate(entries, event.payload);
      }
      case 'webhook':
        return copyOf(topic === undefined ? undefined : this.webhook.get(topic));
      case 'cron':
        return copyOf(topic === undefined ? undefined : this.cron.get(cronKey(topic)));
      case 'manual':
        return copyOf(topic === undefined ? this.manualAll : this.manualByName.get(topic));
    }
  }

  /**
   * Runs the conditions of the triggers whose topic matched. One Payload per event,
   * made on the first condition, so the JSON is parsed at most once; a SOP already
   * matched skips its other triggers' conditions.
   */
  private evaluate(entries: readonly Entry[], text: string | undefined): string[] {
    if (entries.length === 0) return [];
    const stamps = this.stamps;
    const generation = this.nextGeneration();
    let payload: Payload | undefined;
    const matched: number[] = [];
    for (let k = 0; k < entries.length; k++) {
      const entry = entries[k]!;
      if (stamps[entry.sop] === generation) continue;
      if (entry.test !== null && !entry.test((payload ??= new Payload(text)))) continue;
      stamps[entry.sop] = generation;
      matched.push(entry.sop);
    }
    // The trie yields filters in walk order, not SOP order.
    if (matched.length > 1) matched.sort(ascending);
    const names = new Array<string>(matched.length);
    for (let k = 0; k < matched.length; k++) names[k] = this.names[matched[k]!]!;
    return names;
  }

  private nextGeneration(): number {
    if (this.generation === 0xffffffff) {
      // Wrapped after 4 billion events: clear the stamps so old ones cannot collide.
      this.stamps.fill(0);
      this.generation = 0;
    }
    return ++this.generation;
  }
}

function ascending(a: number, b: number): number {
  return a - b;
}

/** Callers own the array they get back, so the index's own lists are never handed out. */
function copyOf(names: readonly string[] | undefined): string[] {
  return names === undefined ? [] : names.slice();
}

function pushTo<V>(map: Map<string, V[]>, key: string, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

/** Appends `index` once: a SOP with two triggers on the same key is still one match. */
function pushIndex(map: Map<string, number[]>, key: string, index: number): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [index]);
  else if (list[list.length - 1] !== index) list.push(index);
}
