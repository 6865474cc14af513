// The `mqtt_publish` tool (docs/sop-format.md): publishes through the embedded broker. Its
// messages come from the gateway, not a client, so they reach subscribers but never
// trigger SOPs: a SOP cannot start itself in a loop.
import type { ActionOf } from '../sop/types.js';
import { looksLikeJson, renderTemplate } from './template.js';
import type { Executor, StepContext, StepOutcome } from './types.js';
import { errorMessage } from '../core/errors.js';

export type MqttPublisher = (topic: string, payload: string, options: { qos: 0 | 1 | 2; retain: boolean }) => Promise<void>;

export function createMqttPublishExecutor(publish: MqttPublisher): Executor<ActionOf<'mqtt_publish'>> {
  return {
    async run(action, ctx: StepContext): Promise<StepOutcome> {
      const { qos, retain } = action.args;
      const topic = renderTemplate(action.args.topic, ctx, 'text');
      if (topic === '' || /[+#\u0000]/.test(topic)) {
        return { status: 'failed', output: `[invalid topic after templating: ${JSON.stringify(topic)}]` };
      }
      const template = action.args.payload;
      const payload = renderTemplate(template, ctx, looksLikeJson(template) ? 'json' : 'text');
      try {
        await publish(topic, payload, { qos, retain });
      } catch (err) {
        return { status: 'failed', output: `[publish to ${topic} failed: ${errorMessage(err)}]` };
      }
      return { status: 'completed', output: `published ${Buffer.byteLength(payload)} bytes to ${topic}` };
    },
  };
}
