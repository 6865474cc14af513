// Checks of [mqtt] that look at more than one value's type: the event prefix, and a broker
// open to the network without users.
import { isLoopbackHost, parseListen } from '../core/listen.js';
import type { Finding } from '../sop/types.js';

export interface MqttChecked {
  listen: string;
  event_prefix: string;
  users: readonly unknown[];
}

export function checkMqtt(
  mqtt: MqttChecked,
  out: { errors: Finding[]; warnings: Finding[] },
  finding: (key: string, message: string) => Finding,
): void {
  const problem = eventPrefixProblem(mqtt.event_prefix);
  if (problem !== null) out.errors.push(finding('event_prefix', `[mqtt] event_prefix ${JSON.stringify(mqtt.event_prefix)} ${problem}`));
  if (mqtt.users.length === 0 && mqtt.listen !== '' && !isLoopbackHost(parseListen(mqtt.listen)?.host ?? '')) {
    out.warnings.push(
      finding(
        'listen',
        `[mqtt] listen = ${JSON.stringify(mqtt.listen)} without [[mqtt.users]]: anyone on the network may connect anonymously, ` +
          'publish events that start SOPs and read run events; add users (sopgate hash-password) or listen on 127.0.0.1',
      ),
    );
  }
}

/**
 * Why a prefix cannot root the gateway's topics, or null: commands are published on
 * `<prefix>/runs/<id>/approve`, a topic name, which holds no wildcards and no empty level
 * at either end; "$" topics are the broker's own [MQTT-4.7.2-1].
 */
export function eventPrefixProblem(prefix: string): string | null {
  if (prefix === '') return 'must not be empty';
  if (/[+#]/.test(prefix)) return 'must not contain the wildcards + or #';
  if (prefix.startsWith('/') || prefix.endsWith('/')) return 'must not start or end with /';
  if (prefix.startsWith('$')) return 'must not start with $ (reserved for the broker)';
  if (prefix.includes('\u0000')) return 'must not contain U+0000';
  return null;
}

/** The host of "host:port" or "[v6]:port" ("" for ":port", every interface). */
