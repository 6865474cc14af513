// The state directory's lock and the gate that holds inbound work during start-up, in
// process. test/daemon-lock.test.ts has the same promises with real daemon processes.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { InboundGate } from '../src/gateway/inbound-gate.js';
import { LOCK_FILE, PID_FILE, StateLock } from '../src/store/state-lock.js';
import { removeTree, tempDir } from './helpers/workspace.js';

let root = '';
before(async () => {
  root = await tempDir('sopgate-lock-');
});
after(() => removeTree(root));

function taken(result: ReturnType<typeof StateLock.take>): StateLock {
  assert.ok(result.ok, result.ok ? '' : result.message);
  return result.lock;
}

describe('StateLock', () => {
  test('one holder at a time; the refusal names the folder and the holder, and a release lets the next in', async () => {
    const dir = join(root, 'state-a');
    const first = taken(StateLock.take(dir, 4242));
    assert.ok(existsSync(join(dir, LOCK_FILE)));
    assert.equal(await readFile(join(dir, PID_FILE), 'utf8'), '4242\n');

    const second = StateLock.take(dir, 777);
    assert.deepEqual(second, { ok: false, message: `the state directory ${dir} is in use by another sopgate daemon (PID 4242); this one did not start` });
    assert.equal(await readFile(join(dir, PID_FILE), 'utf8'), '4242\n', 'the refused one wrote nothing');

    first.release();
    assert.equal(existsSync(join(dir, PID_FILE)), false);
    first.release(); // twice is harmless
    const third = taken(StateLock.take(dir, 778));
    assert.equal(await readFile(join(dir, PID_FILE), 'utf8'), '778\n');
    third.release();
  });

  test('a holder whose PID file is missing or garbled is named as unknown', async () => {
    const dir = join(root, 'state-b');
    const lock = taken(StateLock.take(dir));
    await rm(join(dir, PID_FILE));
    const missing = StateLock.take(dir);
    assert.ok(!missing.ok && /\(PID unknown\)/.test(missing.message));
    await writeFile(join(dir, PID_FILE), 'not a pid');
    const refused = StateLock.take(dir);
    assert.ok(!refused.ok && /\(PID unknown\)/.test(refused.message));
    lock.release();
  });

  test('a state directory that cannot be created is a message, not an exception', async () => {
    const file = join(root, 'a-file');
    await writeFile(file, '');
    const r = StateLock.take(join(file, 'state'));
    assert.ok(!r.ok);
    assert.match(r.message, new RegExp(`^cannot lock the state directory ${file}/state: .*`));
  });
});

describe('InboundGate', () => {
  test('holds work in order until open, then passes it at once', () => {
    const gate = new InboundGate();
    const seen: string[] = [];
    gate.pass(() => seen.push('a'));
    gate.pass(() => seen.push('b'));
    assert.equal(seen.join(', '), '');
    gate.open();
    assert.equal(seen.join(', '), 'a, b');
    gate.pass(() => seen.push('c'));
    assert.equal(seen.join(', '), 'a, b, c');
    gate.close(); // once open, stopping drops nothing
    gate.pass(() => seen.push('d'));
    assert.equal(seen.join(', '), 'a, b, c, d');
  });

  test('a start-up that fails drops what waited and what comes later', () => {
    const gate = new InboundGate();
    const seen: string[] = [];
    gate.pass(() => seen.push('handled'), () => seen.push('dropped 1'));
    gate.close();
    gate.pass(() => seen.push('handled'), () => seen.push('dropped 2'));
    gate.open();
    assert.equal(seen.join(', '), 'dropped 1, dropped 2');
  });
});
