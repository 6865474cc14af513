// Stopping the gateway while a board is in the middle of a step: the step is not failed by
// its board going away first. The engine stops before the boards (the reverse of the
// order they started in), so the run keeps its last durable state and its step runs
// again at the next start, as after any stop in the middle of a step.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startDaemon } from './helpers/daemon.js';
import { sopToml, stepsMd, toolStep } from './helpers/fixtures.js';
import { until } from './helpers/process.js';
import { removeTree } from './helpers/workspace.js';

const PANEL = `[board]\nname = "panel"\ngpio = "sim"\n\n[signals.lamp]\ntype = "gpio_out"\nline = "GPIO27"\n`;

test('a stop during a gpio_write pulse leaves the run to resume, not failed', async () => {
  const files = {
    'boards/panel.toml': PANEL,
    'sops/blink/SOP.toml': sopToml('blink', 'execution_mode = "auto"'),
    'sops/blink/SOP.md': stepsMd(toolStep(1, 'gpio_write', 'signal = "panel/lamp"\nvalue = 1\npulse_ms = 60000')),
  };
  const first = await startDaemon(files, 'boards = ["boards/panel.toml"]');
  let root = first.root;
  try {
    const started = await first.api('POST', '/api/sops/blink/execute');
    assert.equal(started.status, 201);
    const id = started.body.run_id as string;
    // The pulse is on: the lamp reads 1.
    await until(async () => ((await first.api('GET', '/api/sim/panel/lamp')).body.value === 1 ? true : undefined), 'the lamp on');
    await first.daemon.stop();

    const second = await startDaemon(files, 'boards = ["boards/panel.toml"]', { root });
    root = second.root;
    try {
      const run = await second.api('GET', `/api/runs/${id}`);
      assert.equal(run.body.status, 'running', JSON.stringify(run.body));
      const ledger = (await second.api('GET', `/api/ledger?run=${id}`)).body as { kind: string }[];
      assert.ok(!ledger.some((e) => e.kind === 'failed'), JSON.stringify(ledger));
      assert.ok(ledger.some((e) => e.kind === 'resumed'), 'the step runs again after the restart');
    } finally {
      await second.daemon.stop();
    }
  } finally {
    await removeTree(root);
  }
});
