// Serial signals read from real pseudo-terminals (socat): the three line formats, what
// is dropped and counted, overlong lines and garbage, unplug and replug.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ManualClock } from './helpers/clock.js';
import { SerialSource, type SerialSignalOptions } from '../src/sources/serial/index.js';
import { ptyDevice, } from './helpers/pty.js';
import { eventSink, logSink } from './helpers/serial.js';
import { removeTree, tempDir } from './helpers/workspace.js';

let dir: string;
before(async () => (dir = await tempDir('sopgate-serial-')));
after(() => removeTree(dir));

let seq = 0;

/** A device, a started source reading it, and what it hands on. */
async function setup(format: SerialSignalOptions['format'], extra: Partial<SerialSignalOptions> = {}) {
  const device = await ptyDevice(join(dir, `tty${++seq}`));
  const clock = new ManualClock();
  const events = eventSink();
  const logs = logSink();
  const source = new SerialSource({
    signals: [{ board: 'bench', signal: 'uart', path: device.path, format, ...extra }],
    clock,
    logger: logs.logger,
    onEvent: events.onEvent,
  });
  await source.start();
  const signal = source.lookup('bench/uart')!;
  assert.equal(signal.status().state, 'up', logs.items.join('\n'));
  return { device, clock, events, logs, source, signal };
}

const payloads = (events: { payload?: string }[]) => events.map((e) => e.payload);
const topics = (events: { topic?: string }[]) => events.map((e) => e.topic);
const warnings = (lines: string[]) => lines.filter((l) => l.startsWith('warn '));

describe('serial lines become peripheral events', () => {
  test('line: each line is <board>/<signal>, "\\r" before the delimiter dropped, blank lines counted', async (t) => {
    const { device, clock, events, source, signal } = await setup('line');
    t.after(() => Promise.all([source.stop(), device.unplug()]));
    await device.send('hello\r\nwor');
    await device.send('ld\n\r\n\nmid\rdle\n');
    const got = await events.count(3);
    assert.deepEqual(got, [
      { source: 'peripheral', topic: 'bench/uart', payload: 'hello', timestamp: new Date(clock.now()).toISOString() },
      { source: 'peripheral', topic: 'bench/uart', payload: 'world', timestamp: new Date(clock.now()).toISOString() },
      { source: 'peripheral', topic: 'bench/uart', payload: 'mid\rdle', timestamp: new Date(clock.now()).toISOString() },
    ]);
    const status = signal.status();
    assert.equal(status.lines, 5);
    assert.equal(status.events, 3);
    assert.equal(status.dropped.empty, 2);
    assert.equal(status.last_event_at, new Date(clock.now()).toISOString());
  });

  test('kv: key=value lines are <board>/<key>; other lines are dropped as not_kv', async (t) => {
    const { device, events, logs, source, signal } = await setup('kv');
    t.after(() => Promise.all([source.stop(), device.unplug()]));
    await device.send('temp=21.5\r\nnot a pair\n=x\nbad key=1\nhum=40=41\nok-key_2=\nlast=1\n');
    const got = await events.count(4);
    assert.deepEqual(topics(got), ['bench/temp', 'bench/hum', 'bench/ok-key_2', 'bench/last']);
    assert.deepEqual(payloads(got), ['21.5', '40=41', '', '1']);
    assert.equal(signal.status().dropped.not_kv, 3);
    // One warning for the burst of three, none once lines got through.
    assert.equal(warnings(logs.items).length, 1, logs.items.join('\n'));
    assert.match(warnings(logs.items)[0]!, /dropped a line that is not key=value/);
  });

  test('json: lines that parse are events with the line as payload; others are not_json', async (t) => {
    const { device, events, source, signal } = await setup('json');
    t.after(() => Promise.all([source.stop(), device.unplug()]));
    await device.send('{"t": 21.5}\nnope\n42\n{"broken":\n["a"]\n');
    const got = await events.count(3);
    assert.deepEqual(payloads(got), ['{"t": 21.5}', '42', '["a"]']);
    assert.deepEqual(new Set(topics(got)), new Set(['bench/uart']));
    assert.equal(signal.status().dropped.not_json, 2);
  });

  test('a multi-byte delimiter split across writes', async (t) => {
    const { device, events, source } = await setup('line', { delimiter: '<>' });
    t.after(() => Promise.all([source.stop(), device.unplug()]));
    await device.send('a<');
    await device.send('>b<>c');
    await device.send('<><>');
    assert.deepEqual(payloads(await events.count(3)), ['a', 'b', 'c']);
  });
});

describe('hostile input costs bounded memory and time', () => {
  test('4 MiB without a delimiter is dropped with one warning; the next line still arrives', async (t) => {
    const { device, events, logs, source, signal } = await setup('line');
    t.after(() => Promise.all([source.stop(), device.unplug()]));
    const started = process.hrtime.bigint();
    const block = Buffer.alloc(64 * 1024, 'x');
    for (let i = 0; i < 64; i++) await device.send(block);
    await device.send(`\nsecond overlong ${'y'.repeat(5000)}\ngood line\n`);
    const [event] = await events.count(1, 30_000);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    assert.equal(event!.payload, 'good line');
    assert.equal(signal.status().dropped.too_long, 2);
    assert.equal(signal.status().lines, 3);
    assert.equal(warnings(logs.items).length, 1, logs.items.join('\n'));
    assert.match(warnings(logs.items)[0]!, /longer than max_line_bytes/);
    // Copying everything since the last delimiter on every chunk took tens of seconds here.
    assert.ok(ms < 10_000, `took ${ms} ms`);
    // A new burst after a good line is logged again.
    await device.send(`${'z'.repeat(5000)}\nfine\n`);
    await events.count(2);
    assert.equal(warnings(logs.items).length, 2);
  });

  test('invalid UTF-8 and random bytes never crash the reader; such lines are dropped as invalid_utf8', async (t) => {
    const { device, events, source, signal } = await setup('line');
    t.after(() => Promise.all([source.stop(), device.unplug()]));
    await device.send(Buffer.from([0xff, 0xfe, 0x41, 0x0a, 0xc3, 0x28, 0x0a]));
    await device.send('ok \u00e9\n');
    assert.deepEqual(payloads(await events.count(1)), ['ok \u00e9']);
    assert.equal(signal.status().dropped.invalid_utf8, 2);

    await device.send(randomBytes(256 * 1024));
    await device.send('\nafter the noise\n');
    await events.find((e) => e.payload === 'after the noise', 'the line after the noise');
    const s = signal.status();
    const dropped = Object.values(s.dropped).reduce((a, b) => a + b, 0);
    assert.equal(s.lines, s.events + dropped, JSON.stringify(s));
    assert.equal(s.state, 'up');
  });

  test('an event sink that throws is logged; reading goes on', async (t) => {
    const device = await ptyDevice(join(dir, `tty${++seq}`));
    const logs = logSink();
    let calls = 0;
    const source = new SerialSource({
      signals: [{ board: 'b', signal: 's', path: device.path, format: 'line' }],
      clock: new ManualClock(),
      logger: logs.logger,
      onEvent: () => {
        calls++;
        throw new Error('sink broke');
      },
    });
    t.after(() => Promise.all([source.stop(), device.unplug()]));
    await source.start();
    await device.send('a\nb\n');
    await logs.find((l) => l.includes('sink broke') && calls === 2, 'two failed deliveries');
    assert.equal(source.lookup('b/s')!.status().events, 2);
  });
});

describe('unplug and replug', () => {
  test('the reader goes down, logs once, reopens with back-off when the device returns, no duplicate events', async (t) => {
    const { device, clock, events, logs, source, signal } = await setup('line');
    t.after(() => Promise.all([source.stop(), device.unplug()]));
    await device.send('one\n');
    await events.count(1);

    await device.unplug();
    await logs.find((l) => /warn \[serial\] bench\/uart: lost /.test(l), 'the loss');
    assert.equal(signal.status().state, 'down');
    assert.notEqual(signal.status().last_error, null);
    // Still gone after 1 s: the retry fails quietly and the next waits 2 s.
    clock.advance(1000);
    await logs.find((l) => l.includes('cannot reopen') && l.includes('No such file'), 'a failed retry');
    assert.equal(signal.status().state, 'down');
    await device.plug();
    clock.advance(1999);
    assert.equal(signal.status().state, 'down', 'no retry before the back-off is over');
    clock.advance(1);
    await logs.find((l) => l.includes('again at 9600 baud'), 'the reopen');
    assert.equal(signal.status().state, 'up');
    assert.equal(signal.status().last_error, null);
    assert.equal(clock.pending, 0, 'no retry left armed');

    await device.send('two\n');
    await device.send('three\n');
    await events.count(3);
    await device.send('four\n');
    await events.count(4);
    assert.deepEqual(payloads(events.items), ['one', 'two', 'three', 'four']);
    assert.equal(warnings(logs.items).length, 1, logs.items.join('\n'));

    // Unplugged right as a line arrives (a read in flight): still seen, every time, and
    // the back-off starts at 1 s again after each reopen.
    for (let cycle = 2; cycle <= 6; cycle++) {
      await device.send(`line ${cycle}\n`);
      await events.find((e) => e.payload === `line ${cycle}`, `line ${cycle}`);
      await device.unplug();
      await logs.find(() => warnings(logs.items).length === cycle, `loss number ${cycle}`);
      await device.plug();
      clock.advance(1000);
      await logs.find(() => logs.items.filter((l) => l.includes('again at')).length === cycle, `reopen number ${cycle}`);
    }
    await device.send('last\n');
    await events.find((e) => e.payload === 'last', 'the last line');
    assert.deepEqual(payloads(events.items), ['one', 'two', 'three', 'four', 'line 2', 'line 3', 'line 4', 'line 5', 'line 6', 'last']);
  });

  test('a port missing at start is retried; stop releases the lock and leaves no timer', async (t) => {
    const path = join(dir, `tty${++seq}`);
    const clock = new ManualClock();
    const logs = logSink();
    const events = eventSink();
    const make = () => new SerialSource({ signals: [{ board: 'b', signal: 's', path, format: 'line' }], clock, logger: logs.logger, onEvent: events.onEvent });
    const first = make();
    await first.start();
    assert.equal(first.lookup('b/s')!.status().state, 'down');
    assert.match(warnings(logs.items)[0]!, /cannot open .*No such file or directory/);
    const device = await ptyDevice(path);
    t.after(() => device.unplug());
    clock.advance(1000);
    await logs.find((l) => l.includes('again at'), 'the open');

    // The port is locked while open: a second reader cannot have it.
    const second = make();
    await second.start();
    assert.equal(second.lookup('b/s')!.status().state, 'down');
    assert.match(second.lookup('b/s')!.status().last_error!, /Cannot lock port/);
    await second.stop();
    await first.stop();
    assert.equal(clock.pending, 0);

    // Stopped, the lock is gone: a new reader opens at once and reads.
    const third = make();
    t.after(() => third.stop());
    await third.start();
    assert.equal(third.lookup('b/s')!.status().state, 'up');
    await device.send('hi\n');
    assert.deepEqual(payloads(await events.count(1)), ['hi']);
  });

  test('a restart after stop begins afresh: back-off from 1 s, the failure logged again', async (t) => {
    const path = join(dir, `tty${++seq}`);
    const clock = new ManualClock();
    const logs = logSink();
    const source = new SerialSource({ signals: [{ board: 'b', signal: 's', path, format: 'line' }], clock, logger: logs.logger, onEvent: () => {} });
    t.after(() => source.stop());
    await source.start();
    clock.advance(1000);
    await logs.find((l) => l.includes('cannot reopen'), 'a failed retry');
    await source.stop();
    await source.start();
    assert.equal(warnings(logs.items).length, 2, logs.items.join('\n'));
    const device = await ptyDevice(path);
    t.after(() => device.unplug());
    clock.advance(1000);
    await logs.find((l) => l.includes('again at'), 'the open 1 s after the restart');
    assert.equal(source.lookup('b/s')!.status().state, 'up');
  });
});
