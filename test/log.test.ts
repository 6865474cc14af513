import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { memoryLogger } from './helpers/logger.js';
import { batchedLines } from '../src/core/log.js';
import { startDaemon } from './helpers/daemon.js';
import { until } from './helpers/process.js';
import { shellStep, sopToml, stepsMd } from './helpers/fixtures.js';
import { removeTree } from './helpers/workspace.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

describe('log lines to stdout', () => {
  test('lines of one turn go out in one write, in order', () => {
    const writes: string[] = [];
    const scheduled: (() => void)[] = [];
    const write = batchedLines((text) => writes.push(text), (fn) => scheduled.push(fn));
    write('info [run] a');
    write('info [run] b');
    write('warn [run] c');
    assert.equal(scheduled.length, 1, 'one flush scheduled for the turn');
    assert.deepEqual(writes, []);
    scheduled.shift()!();
    assert.deepEqual(writes, ['info [run] a\ninfo [run] b\nwarn [run] c\n']);
    write('info [run] d');
    assert.equal(scheduled.length, 1);
    write.flush();
    assert.deepEqual(writes.at(-1), 'info [run] d\n', 'flush writes what is pending at once');
    scheduled.shift()!();
    assert.equal(writes.length, 2, 'nothing left for the scheduled flush');
  });

  test('lines logged just before the process exits are not lost', () => {
    const script = `import { createLogger } from './src/core/log.ts'; const log = createLogger().child('daemon'); log.log('info', 'one'); log.log('error', 'two'); process.exit(3);`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(child.status, 3, child.stderr);
    assert.equal(child.stdout, 'info [daemon] one\nerror [daemon] two\n');
  });

  test('any message is one line with its control characters escaped', () => {
    const root = memoryLogger();
    root.child('t').log('info', 'a\nb\r\n\x1b[2J\x00\u009b end');
    assert.deepEqual(root.lines, ['info [t] a\\nb\\r\\n\\x1b[2J\\x00\\x9b end']);
  });

  test('a step that prints 64 KiB with control bytes and fails: one short, escaped journal line; a bounded reason', async () => {
    // 100 control bytes escape to 400 characters: the journal line cuts the reason again.
    const script = "printf 'boom\\033[2J\\000\\r\\nline two\\n'; head -c 100 /dev/zero | tr '\\000' '\\001'; head -c 70000 /dev/zero | tr '\\000' a; exit 1";
    const h = await startDaemon({
      'sops/loud/SOP.toml': sopToml('loud', 'execution_mode = "auto"'),
      'sops/loud/SOP.md': stepsMd(shellStep(1, script, 'Fail loudly')),
    });
    try {
      const id = (await h.api('POST', '/api/sops/loud/execute')).body.run_id;
      // The failed line is logged once the run's end is on disk.
      await until(async () => h.logs.find((l) => l.includes(`${id} failed`)), `the journal line of run ${id} failing`);
      const run = (await h.api('GET', `/api/runs/${id}`)).body;
      assert.equal(run.status, 'failed');
      const output: string = run.step_results[0].output;
      assert.ok(output.startsWith(`boom\x1b[2J\x00\r\nline two\n${'\x01'.repeat(100)}aaa`) && output.length > 65_536, 'the step result keeps the whole (capped) output');
      assert.ok(Buffer.byteLength(run.reason) < 260, run.reason);
      assert.equal(run.reason, `Step 1 failed: ${output.slice(0, 200)}… [cut, ${Buffer.byteLength(output)} bytes in all]`);
      const line = h.logs.find((l) => l.includes(`${id} failed`))!;
      assert.ok(line.length < 400, `${line.length} characters`);
      assert.doesNotMatch(line, /[\u0000-\u001f\u007f-\u009f]/);
      assert.match(line, /^warn \[run\] loud \S+ failed: Step 1 failed: boom\\x1b\[2J\\x00\\r\\nline two\\n(\\x01)+[\\x01]*… \[cut, \d+ bytes in all\]$/);
    } finally {
      await h.daemon.stop();
      await removeTree(h.root);
    }
  });
});
