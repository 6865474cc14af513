// The context an executor runs a step in, for executor tests: step 1 of 1 of run-1 of
// "fan-alarm" in /tmp, started by an MQTT event, no earlier outputs, no step timeout, and a
// signal that aborts only when a test passes its own.
import type { GatewayEvent } from '../../src/core/events.js';
import type { StepContext } from '../../src/executors/types.js';

/** `event` is merged into the default event; `over` replaces whole fields. */
export function stepContext(over: Partial<StepContext> = {}, event: Partial<GatewayEvent> = {}): StepContext {
  return {
    runId: 'run-1',
    sopName: 'fan-alarm',
    sopLocation: '/tmp',
    stepNumber: 1,
    totalSteps: 1,
    event: { source: 'mqtt', timestamp: '2026-01-01T00:00:00Z', ...event },
    outputs: new Map(),
    timeoutSecs: null,
    signal: new AbortController().signal,
    ...over,
  };
}
