// The broker's small pieces: password hashes, the hash-password command, gateway topics,
// the frame guard, result parsing and listen addresses.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hashPasswordCommand } from '../src/cli/hash-password.js';
import type { CliIo } from '../src/cli/io.js';
import { FrameGuard } from '../src/sources/mqtt/frame-guard.js';
import { hashPassword, parseHash, verifyPassword } from '../src/sources/mqtt/password.js';
import { parseStepResult } from '../src/core/run.js';
import { GatewayTopics } from '../src/sources/mqtt/topics.js';
import { RunEventSubscribers } from '../src/sources/mqtt/run-events.js';
import type { Client } from 'aedes';

describe('password hashes', () => {
  const hash = hashPassword('s3cret pass');

  test('hash has the documented format and verifies', async () => {
    assert.match(hash, /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=$/);
    assert.equal(await verifyPassword('s3cret pass', hash), true);
    assert.equal(await verifyPassword(Buffer.from('s3cret pass'), hash), true);
    assert.equal(await verifyPassword('s3cret pas', hash), false);
    assert.equal(await verifyPassword('', hash), false);
    assert.notEqual(hashPassword('s3cret pass'), hash, 'salted');
  });

  test('malformed or too costly hashes never verify', async () => {
    const [, , , , salt, key] = hash.split('$');
    const bad = [
      '',
      'scrypt$',
      `bcrypt$16384$8$1$${salt}$${key}`,
      `scrypt$16384$8$1$${salt}`,
      `scrypt$16384$8$1$${salt}$${key}$x`,
      `scrypt$16383$8$1$${salt}$${key}`, // N not a power of two
      `scrypt$1048576$8$1$${salt}$${key}`, // N too large
      `scrypt$16384$64$1$${salt}$${key}`, // r too large
      `scrypt$16384$8$100$${salt}$${key}`, // p too large
      `scrypt$016384$8$1$${salt}$${key}`,
      `scrypt$16384$8$1$not*base64$${key}`,
      `scrypt$16384$8$1$${salt}$`,
      `scrypt$16384$8$1$${salt}$AAAA`, // key too short
    ];
    for (const h of bad) {
      assert.equal(parseHash(h), null, h);
      assert.equal(await verifyPassword('s3cret pass', h), false, h);
    }
  });
});

describe('sopgate hash-password', () => {
  const io = () => {
    const out: string[] = [];
    const err: string[] = [];
    const cli: CliIo = { cwd: '/', out: (t) => out.push(t), err: (t) => err.push(t) };
    return { cli, out, err };
  };

  test('prints a hash of the argument', async () => {
    const { cli, out } = io();
    assert.equal(await hashPasswordCommand(cli, 'pw-arg', () => assert.fail('stdin read')), 0);
    assert.equal(out.length, 1);
    assert.equal(await verifyPassword('pw-arg', out[0]!), true);
  });

  test('reads one line of stdin when no argument is given', async () => {
    const { cli, out } = io();
    assert.equal(await hashPasswordCommand(cli, undefined, async () => 'from stdin\r\nsecond line\n'), 0);
    assert.equal(await verifyPassword('from stdin', out[0]!), true);
  });

  test('an empty password exits 2', async () => {
    for (const input of ['', '\n']) {
      const { cli, out, err } = io();
      assert.equal(await hashPasswordCommand(cli, undefined, async () => input), 2);
      assert.deepEqual(out, []);
      assert.match(err[0] ?? '', /empty/);
    }
    const { cli } = io();
    assert.equal(await hashPasswordCommand(cli, ''), 2);
  });
});

describe('gateway topics', () => {
  const t = new GatewayTopics('sopgate');
  const nested = new GatewayTopics('site/gw');

  test('owns, run event topics and result run ids', () => {
    assert.equal(t.owns('sopgate/runs/x/started'), true);
    assert.equal(t.owns('sopgate'), false);
    assert.equal(t.owns('sopgates/x'), false);
    assert.equal(t.runEvent('r1', 'waiting_approval'), 'sopgate/runs/r1/waiting_approval');
    assert.equal(t.resultRunId('sopgate/runs/r1/result'), 'r1');
    for (const topic of ['sopgate/runs/result', 'sopgate/runs//result', 'sopgate/runs/a/b/result', 'sopgate/runs/r1/results', 'other/runs/r1/result', 'sopgate/run/r1/result']) {
      assert.equal(t.resultRunId(topic), null, topic);
    }
    assert.equal(nested.resultRunId('site/gw/runs/r2/result'), 'r2');
  });

  test('reach of subscription filters', () => {
    const cases: [GatewayTopics, string, string][] = [
      [t, 'sopgate/runs/#', 'inside'],
      [t, 'sopgate/#', 'inside'],
      [t, 'sopgate/+/x/result', 'inside'],
      [t, '#', 'overlaps'],
      [t, '+/runs/#', 'overlaps'],
      [t, '+/#', 'overlaps'],
      [t, 'sopgate', 'outside'],
      [t, '+', 'outside'],
      [t, 'sensors/#', 'outside'],
      [t, 'sopgate2/#', 'outside'],
      [nested, 'site/#', 'overlaps'],
      [nested, 'site/gw/#', 'inside'],
      [nested, 'site/+/runs/#', 'overlaps'],
      [nested, 'site/other/#', 'outside'],
      [nested, 'site/gw', 'outside'],
    ];
    for (const [topics, filter, reach] of cases) assert.equal(topics.reach(filter), reach, `${topics.root} ${filter}`);
  });

  test('which run events a filter receives: a filter naming one run counts for every run', () => {
    const cases: [GatewayTopics, string, string, boolean][] = [
      [t, 'sopgate/runs/+/completed', 'completed', true],
      [t, 'sopgate/runs/+/completed', 'started', false],
      [t, 'sopgate/runs/r-1/completed', 'completed', true],
      [t, 'sopgate/runs/r-1/completed', 'failed', false],
      [t, 'sopgate/runs/r-1/#', 'step', true],
      [t, 'sopgate/runs/#', 'waiting_approval', true],
      [t, 'sopgate/#', 'started', true],
      [t, '#', 'started', true],
      [t, '+/runs/+/+', 'cancelled', true],
      [t, 'sopgate/runs/+', 'started', false],
      [t, 'sopgate/runs/+/completed/x', 'completed', false],
      [t, 'sopgate/+/+/completed', 'completed', true],
      [t, 'sensors/#', 'started', false],
      [nested, 'site/gw/runs/+/step', 'step', true],
      [nested, 'site/+/runs/+/step', 'failed', false],
    ];
    for (const [topics, filter, kind, receives] of cases) assert.equal(topics.receives(filter, kind), receives, `${topics.root} ${filter} ${kind}`);
  });
});

describe('run event subscribers', () => {
  const client = (closed = false) => ({ closed }) as unknown as Client;

  test('an event kind is wanted while some open client holds a filter that receives it', () => {
    const subs = new RunEventSubscribers(new GatewayTopics('sopgate'));
    const agent = client();
    assert.equal(subs.wants('completed'), false);
    subs.add(agent, 'sopgate/runs/+/completed');
    subs.add(agent, 'sensors/#'); // outside: ignored
    assert.equal(subs.wants('completed'), true);
    assert.equal(subs.wants('started'), false);
    const watcher = client();
    subs.add(watcher, 'sopgate/#');
    assert.equal(subs.wants('started'), true);
    subs.forget(watcher);
    assert.equal(subs.wants('started'), false);
    subs.remove(agent, ['sopgate/runs/+/completed']);
    assert.equal(subs.wants('completed'), false);
  });
});

describe('frame guard', () => {
  // PUBLISH fixed header 0x30, remaining length as a varint.
  const packet = (remaining: number): Buffer => {
    const len: number[] = [];
    let n = remaining;
    do {
      let byte = n % 128;
      n = Math.floor(n / 128);
      if (n > 0) byte |= 0x80;
      len.push(byte);
    } while (n > 0);
    return Buffer.concat([Buffer.from([0x30, ...len]), Buffer.alloc(remaining, 0x61)]);
  };

  test('passes packets up to the limit, in any chunking', () => {
    const stream = Buffer.concat([packet(10), packet(126), packet(200 - 3), packet(0)]); // 200 bytes total for the third
    for (const size of [1, 2, 3, 7, 64, stream.length]) {
      const guard = new FrameGuard(200);
      for (let i = 0; i < stream.length; i += size) assert.equal(guard.check(stream.subarray(i, i + size)), true, `chunk ${size}`);
    }
  });

  test('stops at the header of a packet over the limit, even split across chunks', () => {
    const stream = Buffer.concat([packet(5), packet(200 - 2)]); // 2-byte length header → 201 bytes
    for (const size of [1, 2, 3, stream.length]) {
      const guard = new FrameGuard(200);
      let ok = true;
      for (let i = 0; i < 10 && ok; i += size) ok = guard.check(stream.subarray(i, i + size)); // the header is in the first 10 bytes
      assert.equal(ok, false, `chunk ${size}`);
    }
    const huge = new FrameGuard(1 << 20);
    assert.equal(huge.check(Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f])), false); // 256 MiB announced
    assert.equal(new FrameGuard(1 << 30).check(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])), false); // 5 length bytes
  });
});

test('parseStepResult accepts the documented shape only', () => {
  assert.deepEqual(parseStepResult('{"status":"completed","output":"ok"}'), { status: 'completed', output: 'ok' });
  assert.deepEqual(parseStepResult('{"status":"skipped"}'), { status: 'skipped', output: '' });
  assert.deepEqual(parseStepResult('{"status":"failed","output":null}'), { status: 'failed', output: '' }, 'null is no output');
  for (const bad of ['', 'x', 'null', '"completed"', '[]', '{}', '{"status":"running"}', '{"status":"failed","output":3}', '{"status":"toString"}']) {
    assert.equal(typeof parseStepResult(bad), 'string', bad);
  }
});


describe('coalesceWrites', () => {
  test('writes in one event-loop turn are held together, then all arrive, in order', async () => {
    const { createServer, connect } = await import('node:net');
    const { coalesceWrites } = await import('../src/sources/mqtt/connections.js');
    const server = createServer({ noDelay: true });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const accepted = new Promise<import('node:net').Socket>((resolve) => server.once('connection', resolve));
    const client = connect(port, '127.0.0.1');
    const socket = await accepted;
    coalesceWrites(socket);
    let received = '';
    const all = new Promise<void>((resolve) =>
      client.on('data', (d) => {
        received += d.toString();
        if (received.length === 100 * 4) resolve();
      }),
    );
    for (let i = 0; i < 100; i++) socket.write(String(i).padStart(4, '0'));
    assert.equal(socket.writableCorked, 1, 'held for the rest of the turn');
    await all;
    assert.equal(socket.writableCorked, 0, 'released after the turn');
    assert.equal(received, Array.from({ length: 100 }, (_, i) => String(i).padStart(4, '0')).join(''));
    client.destroy();
    socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
});
