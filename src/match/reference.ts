// The plain matcher: every SOP, every trigger, reparsing the payload and the
// condition each time. It defines what matching means (docs/sop-format.md); the
// compiled Matcher (matcher.ts) must return exactly the same names, which the
// tests check on a case table and on random SOP sets. Never use it on the hot path.
import type { GatewayEvent } from '../core/events.js';
import type { SopDefinition, Trigger } from '../sop/types.js';
import { evaluateConditionReference } from '../expressions/condition-reference.js';
import { cronKey } from '../expressions/cron.js';
import { topicMatchesFilter } from '../expressions/topic.js';

/** Names of the SOPs `event` starts, each once, in the order of `sops`. */
export function referenceMatch(sops: readonly SopDefinition[], event: GatewayEvent): string[] {
  const names: string[] = [];
  for (const sop of sops) {
    if (sop.triggers.some((trigger) => triggerMatches(sop, trigger, event))) names.push(sop.name);
  }
  return names;
}

function triggerMatches(sop: SopDefinition, trigger: Trigger, event: GatewayEvent): boolean {
  const { topic } = event;
  switch (trigger.type) {
    case 'mqtt':
      return (
        event.source === 'mqtt' &&
        topic !== undefined &&
        topicMatchesFilter(trigger.topic, topic) &&
        conditionHolds(trigger.condition, event.payload)
      );
    case 'webhook':
      return event.source === 'webhook' && topic === trigger.path;
    case 'cron':
      // Compared in normalised form so "0  * * * *" from a hand-written event still finds
      // its trigger; an empty expression is invalid and never fires.
      return (
        event.source === 'cron' &&
        topic !== undefined &&
        cronKey(trigger.expression) !== '' &&
        cronKey(topic) === cronKey(trigger.expression)
      );
    case 'peripheral':
      return (
        event.source === 'peripheral' &&
        topic === `${trigger.board}/${trigger.signal}` &&
        conditionHolds(trigger.condition, event.payload)
      );
    case 'manual':
      // A manual event names its SOP in `topic`; without a name it asks every manual SOP.
      return event.source === 'manual' && (topic === undefined || topic === sop.name);
  }
}

/** No condition at all always holds; anything else (even "") goes to the condition rules. */
function conditionHolds(condition: string | undefined, payload: string | undefined): boolean {
  return condition === undefined || evaluateConditionReference(condition, payload);
}
