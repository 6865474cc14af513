import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { batchedLines } from '../src/log.js';

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
    const script = `import { createLogger } from './src/log.ts'; const log = createLogger().child('daemon'); log.log('info', 'one'); log.log('error', 'two'); process.exit(3);`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(child.status, 3, child.stderr);
    assert.equal(child.stdout, 'info [daemon] one\nerror [daemon] two\n');
  });
});
