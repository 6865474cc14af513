// The `mqtt_publish` tool (DESIGN.md §2): publishes through the embedded broker. Its
// messages come from the gateway, not a client, so they reach subscribers but never
// trigger SOPs: a SOP cannot start itself in a loop.
import type { StepAction } from '../sop/types.js';
import { renderTemplate } from './template.js';
import type { Executor, StepContext, StepOutcome } from './types.js';
import { errorMessage } from '../core/errors.js';

export type MqttPublisher = (topic: string, payload: string, options: { qos: 0 | 1 | 2; retain: boolean }) => Promise<void>;

export function createMqttPublishExecutor(publish: MqttPublisher): Executor {
  return {
    async run(action: StepAction, ctx: StepContext): Promise<StepOutcome> {
      const topic = renderTemplate(String(action.args.topic ?? ''), ctx, 'text');
      if (topic === '' || /[+#\u0000]/.test(topic)) {
        return { status: 'failed', output: `[invalid topic after templating: ${JSON.stringify(topic)}]` };
      }
      const template = String(action.args.payload ?? '');
      const trimmed = template.trim();
      const payload = renderTemplate(template, ctx, trimmed.startsWith('{') || trimmed.startsWith('[') ? 'json' : 'text');
      const qos = action.args.qos === 1 || action.args.qos === 2 ? action.args.qos : 0;
      try {
        await publish(topic, payload, { qos, retain: action.args.retain === true });
      } catch (err) {
        return { status: 'failed', output: `[publish to ${topic} failed: ${errorMessage(err)}]` };
      }
      return { status: 'completed', output: `published ${Buffer.byteLength(payload)} bytes to ${topic}` };
    },
  };
}
