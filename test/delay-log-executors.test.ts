import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from './helpers/clock.js';
import { systemClock } from '../src/core/clock.js';
import { createDelayExecutor } from '../src/executors/delay.js';
import { createExecutors, RUNNABLE_TOOLS } from '../src/executors/index.js';
import { createLogExecutor } from '../src/executors/log.js';
import type { StepContext } from '../src/executors/types.js';
import { memoryLogger } from './helpers/logger.js';
import { createLogger } from '../src/core/log.js';
import { TOOL_NAMES, type ActionOf, type ToolArgs, type ToolName } from '../src/sop/types.js';
import { stepContext } from './helpers/step-context.js';

const ctx = (over: Partial<StepContext> = {}): StepContext =>
  stepContext({ runId: 'run-3', stepNumber: 2, totalSteps: 2, outputs: new Map([[1, 'fan restarted']]), ...over }, { topic: 'sensors/fan', payload: '{"temp": 91}' });

const action = <T extends ToolName>(tool: T, args: ToolArgs[T]): ActionOf<T> => ({ tool, source: '', args }) as ActionOf<T>;

/** Lets pending promise callbacks run, so "not settled yet" is observed, not assumed. */
const settled = async (p: Promise<unknown>): Promise<boolean> => {
  let done = false;
  void p.then(() => (done = true));
  await new Promise((resolve) => setImmediate(resolve));
  return done;
};

describe('delay executor', () => {
  it('waits the given seconds on the injected clock', async () => {
    const clock = new ManualClock();
    const pending = createDelayExecutor({ clock, logger: memoryLogger() }).run(action('delay', { seconds: 5 }), ctx());
    clock.advance(4999);
    assert.equal(await settled(pending), false);
    clock.advance(1);
    assert.deepEqual(await pending, { status: 'completed', output: 'waited 5s' });
    assert.equal(clock.pending, 0);
  });

  it('handles fractions and zero', async () => {
    const clock = new ManualClock();
    const delay = createDelayExecutor({ clock, logger: memoryLogger() });
    const half = delay.run(action('delay', { seconds: 0.5 }), ctx());
    const zero = delay.run(action('delay', { seconds: 0 }), ctx());
    clock.advance(0);
    assert.deepEqual(await zero, { status: 'completed', output: 'waited 0s' });
    assert.equal(await settled(half), false);
    clock.advance(500);
    assert.deepEqual(await half, { status: 'completed', output: 'waited 0.5s' });
  });

  it('is cancelled through the signal and disarms its timer', async () => {
    const clock = new ManualClock();
    const controller = new AbortController();
    const pending = createDelayExecutor({ clock, logger: memoryLogger() }).run(action('delay', { seconds: 60 }), ctx({ signal: controller.signal }));
    assert.equal(clock.pending, 1);
    controller.abort();
    assert.deepEqual(await pending, { status: 'failed', output: '[cancelled]' });
    assert.equal(clock.pending, 0);
  });

  it('does not arm a timer when already cancelled', async () => {
    const clock = new ManualClock();
    const controller = new AbortController();
    controller.abort();
    const outcome = await createDelayExecutor({ clock, logger: memoryLogger() }).run(action('delay', { seconds: 1 }), ctx({ signal: controller.signal }));
    assert.deepEqual(outcome, { status: 'failed', output: '[cancelled]' });
    assert.equal(clock.pending, 0);
  });
});

describe('log executor', () => {
  it("renders the message and logs it at the level, under the SOP's component", async () => {
    const logger = memoryLogger();
    const outcome = await createLogExecutor({ clock: systemClock, logger }).run(
      action('log', { message: 'temp {{payload.temp}} on {{trigger.topic}}; step 1: {{steps.1.output}}', level: 'warn' }),
      ctx(),
    );
    assert.deepEqual(outcome, { status: 'completed', output: 'temp 91 on sensors/fan; step 1: fan restarted' });
    assert.deepEqual(logger.lines, ['warn [sop:fan-alarm] temp 91 on sensors/fan; step 1: fan restarted']);
  });

  it('inline: the outcome at once, the line only when the engine runs the effect', () => {
    const logger = memoryLogger();
    const outcome = createLogExecutor({ clock: systemClock, logger }).inline!(action('log', { message: 'temp {{payload.temp}}', level: 'error' }), ctx());
    assert.equal(outcome.status, 'completed');
    assert.equal(outcome.output, 'temp 91');
    assert.deepEqual(logger.lines, [], 'nothing logged yet');
    outcome.effect!();
    assert.deepEqual(logger.lines, ['error [sop:fan-alarm] temp 91']);
  });

  it('logs at info by default and keeps one line per message', async () => {
    const logger = memoryLogger();
    const outcome = await createLogExecutor({ clock: systemClock, logger }).run(action('log', { message: 'a\n{{payload}}', level: 'info' }), ctx());
    assert.deepEqual(outcome, { status: 'completed', output: 'a\n{"temp": 91}' });
    assert.deepEqual(logger.lines, ['info [sop:fan-alarm] a\\n{"temp": 91}']);
  });

  it('completes even when the level is below the logger threshold', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'warn', write: (line) => lines.push(line) });
    const outcome = await createLogExecutor({ clock: systemClock, logger }).run(action('log', { message: 'quiet', level: 'debug' }), ctx());
    assert.deepEqual(outcome, { status: 'completed', output: 'quiet' });
    assert.deepEqual(lines, []);
  });
});

describe('createExecutors', () => {
  it('builds exactly the runnable tools: every built-in tool', () => {
    const executors = createExecutors({ clock: new ManualClock(), logger: memoryLogger() });
    assert.deepEqual(Object.keys(executors).sort(), ['delay', 'gpio_write', 'http_request', 'log', 'mqtt_publish', 'serial_write', 'shell']);
    assert.deepEqual(Object.keys(executors).sort(), [...TOOL_NAMES].sort());
    assert.deepEqual([...RUNNABLE_TOOLS].sort(), Object.keys(executors).sort());
    for (const tool of TOOL_NAMES) assert.equal(executors[tool] !== undefined, RUNNABLE_TOOLS.has(tool), tool);
  });

  it('hands options to the shell executor', async () => {
    const executors = createExecutors({ clock: systemClock, logger: memoryLogger() }, { maxOutputBytes: 3, shell: '/bin/sh' });
    const outcome = await executors.shell?.run({ tool: 'shell', source: 'printf abcdef', args: {} }, ctx());
    assert.deepEqual(outcome, { status: 'completed', output: 'abc\n[output truncated: 3 more bytes]' });
  });
});

describe('mqtt_publish executor', () => {
  it('renders the topic as text and a JSON payload JSON-escaped, and fails on a wildcard topic', async () => {
    const sent: [string, string, unknown][] = [];
    const executor = createExecutors(
      { clock: new ManualClock(), logger: memoryLogger() },
      { mqttPublish: async (topic, payload, options) => void sent.push([topic, payload, options]) },
    ).mqtt_publish!;
    const c = { ...ctx(), event: { source: 'mqtt' as const, payload: '{"site": "north", "note": "a \\"b\\""}', timestamp: '2026-01-01T00:00:00.000Z' } };
    const ok = await executor.run(
      { tool: 'mqtt_publish', source: '', args: { topic: 'alerts/{{payload.site}}', payload: '{"note": "{{payload.note}}"}', qos: 1, retain: true } },
      c,
    );
    assert.equal(ok.status, 'completed');
    assert.deepEqual(sent, [['alerts/north', '{"note": "a \\"b\\""}', { qos: 1, retain: true }]]);
    assert.equal(JSON.parse(sent[0]![1]).note, 'a "b"');
    const bad = await executor.run({ tool: 'mqtt_publish', source: '', args: { topic: 'alerts/{{payload.note}}/#', payload: '', qos: 0, retain: false } }, c);
    assert.equal(bad.status, 'failed');
    assert.match(bad.output, /invalid topic after templating/);
  });

  it('fails clearly when the broker is disabled', async () => {
    const executor = createExecutors({ clock: new ManualClock(), logger: memoryLogger() }).mqtt_publish!;
    const outcome = await executor.run({ tool: 'mqtt_publish', source: '', args: { topic: 'a/b', payload: 'x', qos: 0, retain: false } }, ctx());
    assert.deepEqual(outcome, { status: 'failed', output: '[publish to a/b failed: the embedded broker is disabled ([mqtt] listen = "")]' });
  });
});
