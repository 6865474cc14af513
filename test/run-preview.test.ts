// Previews of runs: text cut to a number of UTF-8 bytes on a character boundary, the same
// whether SQLite cuts it (a stored run) or JavaScript does (a run in memory).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PREVIEW_BYTES, previewRun } from '../src/engine/run-preview.js';
import type { Run } from '../src/core/run.js';
import { cutText, decodePrefix, escapeControls, excerpt } from '../src/core/text.js';
import { builtin, harness, manual, settle, sop } from './helpers/engine.js';
import { removeTree, tempDir } from './helpers/workspace.js';

let dir: string;
let n = 0;
before(async () => {
  dir = await tempDir('sopgate-run-preview-');
});
after(() => removeTree(dir));

describe('cutting text', () => {
  test('cutText keeps at most max bytes, never half a character, and says whether it cut', () => {
    assert.deepEqual(cutText('abc', 3), { text: 'abc', cut: false });
    assert.deepEqual(cutText('abcd', 3), { text: 'abc', cut: true });
    assert.deepEqual(cutText('', 3), { text: '', cut: false });
    assert.deepEqual(cutText('é'.repeat(2), 4), { text: 'éé', cut: false }, 'two 2-byte characters fit in 4 bytes');
    assert.deepEqual(cutText('aé', 2), { text: 'a', cut: true }, 'é would end past the bound');
    assert.deepEqual(cutText('😀😀', 7), { text: '😀', cut: true });
    assert.deepEqual(cutText('😀😀', 8), { text: '😀😀', cut: false });
    assert.deepEqual(cutText('a\x00b\x00c', 3), { text: 'a\x00b', cut: true }, 'NUL is a character like any other');
    assert.deepEqual(cutText('x'.repeat(10), 0), { text: '', cut: true });
  });

  test('decodePrefix drops a character cut short at the end, whatever its length', () => {
    for (const char of ['é', '€', '😀']) {
      const bytes = Buffer.from(`a${char}`);
      for (let end = 1; end < bytes.length; end++) assert.equal(decodePrefix(bytes.subarray(0, end)), 'a', `${char} cut at ${end}`);
      assert.equal(decodePrefix(bytes), `a${char}`);
    }
    assert.equal(decodePrefix(Buffer.alloc(0)), '');
  });

  test('excerpt marks a cut with the full length; escapeControls makes control characters visible', () => {
    assert.equal(excerpt('short', 10), 'short');
    assert.equal(excerpt('x'.repeat(20), 5), 'xxxxx… [cut, 20 bytes in all]');
    assert.equal(escapeControls('a\nb\r\tc\x00\x1b[31m\x7f\u0085 é'), 'a\\nb\\r\\tc\\x00\\x1b[31m\\x7f\\x85 é');
  });
});

describe('run previews', () => {
  const long = (fill: string) => `${fill}${'\x00\x1b'.repeat(300)}`;

  test('previewRun cuts topic, payload, reason and outputs to PREVIEW_BYTES and flags each field it cut', () => {
    const run: Run = {
      run_id: 'r1',
      sop_name: 's',
      status: 'failed',
      current_step: 2,
      total_steps: 2,
      trigger_event: { source: 'mqtt', topic: 't'.repeat(PREVIEW_BYTES + 1), payload: 'p'.repeat(PREVIEW_BYTES), timestamp: 'x' },
      started_at: 'x',
      completed_at: 'x',
      waiting_since: null,
      step_results: [
        { step_number: 1, status: 'completed', output: 'fine', started_at: 'x', completed_at: 'x' },
        { step_number: 2, status: 'failed', output: long('o'), started_at: 'x', completed_at: 'x' },
      ],
      reason: long('r'),
    };
    const preview = previewRun(run);
    assert.equal(preview.trigger_event.topic, 't'.repeat(PREVIEW_BYTES));
    assert.equal(preview.trigger_event.topic_truncated, true);
    assert.equal(preview.trigger_event.payload, run.trigger_event.payload, 'exactly PREVIEW_BYTES is kept whole');
    assert.equal('payload_truncated' in preview.trigger_event, false);
    assert.deepEqual(preview.step_results[0], run.step_results[0]);
    assert.equal(preview.step_results[1]!.output, long('o').slice(0, PREVIEW_BYTES));
    assert.equal(preview.step_results[1]!.output_truncated, true);
    assert.equal(preview.reason, long('r').slice(0, PREVIEW_BYTES));
    assert.equal(preview.reason_truncated, true);
    assert.equal(run.reason, long('r'), 'the run itself is untouched');
  });

  test('a stored run (cut by SQLite) and a run in memory (cut here) preview the same, NULs and 4-byte characters included', async () => {
    const h = harness(`${dir}/h${++n}`, [sop('done', { steps: [builtin(1)] }), sop('held', { mode: 'supervised', steps: [builtin(1)] })]);
    try {
      for (const payload of [long('😀'.repeat(100)), `${'a'.repeat(PREVIEW_BYTES - 2)}😀tail`, `\x00${'b'.repeat(400)}`, 'small', '']) {
        h.executor.script.push({ status: 'failed', output: payload });
        const stored = await h.engine.startRun('done', manual(payload));
        const held = await h.engine.startRun('held', manual(payload));
        assert.ok(stored.ok && held.ok);
        await settle();
        const fromStore = h.engine.runPreview(stored.run.run_id)!;
        const fromMemory = h.engine.runPreview(held.run.run_id)!;
        assert.equal(fromStore.status, 'failed');
        assert.equal(fromMemory.status, 'waiting_approval');
        const expected = cutText(payload, PREVIEW_BYTES);
        for (const preview of [fromStore, fromMemory]) {
          assert.equal(preview.trigger_event.payload, expected.text, JSON.stringify(payload.slice(0, 20)));
          assert.equal(preview.trigger_event.payload_truncated, expected.cut ? true : undefined);
        }
        assert.equal(fromStore.step_results[0]!.output, cutText(payload, PREVIEW_BYTES).text);
        assert.equal(h.engine.getRun(stored.run.run_id)!.trigger_event.payload, payload, 'getRun has the whole payload');
        await h.engine.cancel(held.run.run_id, 'api');
      }
    } finally {
      h.close();
    }
  });
});
