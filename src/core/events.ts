// The one event type every source hands to the matcher.

export const EVENT_SOURCES = ['mqtt', 'webhook', 'cron', 'peripheral', 'manual'] as const;
export type EventSource = (typeof EVENT_SOURCES)[number];

export interface GatewayEvent {
  source: EventSource;
  /** mqtt topic | webhook path | cron expression | "<board>/<signal>" | SOP name (manual) */
  topic?: string;
  /** Raw payload text (JSON or a bare value such as "1"). */
  payload?: string;
  /** ISO-8601 UTC. */
  timestamp: string;
}
