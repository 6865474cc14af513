// The line splitter and the line formats on their own: a plain reference split over
// random chunkings must give the same lines and drops, and hostile input stays cheap.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { decodeLine, lineFormatter } from '../src/sources/serial/line-format.js';
import { LineSplitter } from '../src/sources/serial/line-splitter.js';
import { resolveSerialSignal } from '../src/sources/serial/options.js';

type Out = string | 'TOO_LONG';

/** Runs the splitter over `chunks`; lines as latin1 text (byte for byte) or TOO_LONG. */
function split(delimiter: string, max: number, chunks: Buffer[]): Out[] {
  const out: Out[] = [];
  const splitter = new LineSplitter(delimiter, max, { line: (b) => out.push(b.toString('latin1')), tooLong: () => out.push('TOO_LONG') });
  for (const chunk of chunks) splitter.push(chunk);
  return out;
}

/**
 * The plain reference: the whole input at once, split on the delimiter. The unfinished
 * last piece is already reported as too long once it cannot fit the splitter's buffer
 * (the limit, a "\r" and a partial delimiter).
 */
function reference(delimiter: string, max: number, input: Buffer): Out[] {
  const d = Buffer.from(delimiter, 'utf8');
  const pieces = input.toString('latin1').split(d.toString('latin1'));
  const unfinished = pieces.pop()!;
  const out: Out[] = pieces.map((p) => (p.endsWith('\r') ? p.slice(0, -1) : p)).map((p) => (p.length > max ? 'TOO_LONG' : p));
  if (unfinished.length > max + d.length) out.push('TOO_LONG');
  return out;
}

/** Cuts `input` at the given positions. */
function chunked(input: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const cut of [...at, input.length]) {
    chunks.push(input.subarray(from, cut));
    from = cut;
  }
  return chunks;
}

describe('LineSplitter', () => {
  test('matches the reference split for any chunking, delimiter and limit', () => {
    const delimiter = fc.constantFrom('\n', '\r\n', ';', '<>', 'aa', '\u00e9');
    const text = fc.array(fc.constantFrom('a', 'b', 'x', '\n', '\r', ';', '<', '>', '\u00e9', '\u00c3'), { maxLength: 60 }).map((cs) => cs.join(''));
    fc.assert(
      fc.property(delimiter, fc.integer({ min: 1, max: 8 }), text, fc.array(fc.nat(), { maxLength: 12 }), (d, max, t, cuts) => {
        const input = Buffer.from(t, 'utf8');
        assert.deepEqual(split(d, max, chunked(input, cuts)), reference(d, max, input));
      }),
      { numRuns: 3000 },
    );
  });

  test('an overlong line is reported once, however many chunks it spans', () => {
    const chunks = Array.from({ length: 100 }, () => Buffer.alloc(1000, 'x'));
    assert.deepEqual(split('\n', 10, [...chunks, Buffer.from('\nok\n')]), ['TOO_LONG', 'ok']);
  });

  test('reset forgets a partial line', () => {
    const out: string[] = [];
    const s = new LineSplitter('\r\n', 100, { line: (b) => out.push(b.toString()), tooLong: () => out.push('TOO_LONG') });
    s.push(Buffer.from('half a li'));
    s.reset();
    s.push(Buffer.from('whole\r'));
    s.reset();
    s.push(Buffer.from('\nnext\r\n'));
    assert.deepEqual(out, ['\nnext']);
  });

  test('64 MiB without a delimiter in small chunks costs time in proportion to its size', () => {
    let tooLong = 0;
    const s = new LineSplitter('\r\n', 4096, { line: () => assert.fail('no line expected'), tooLong: () => tooLong++ });
    const chunk = Buffer.alloc(1024, 'x');
    const started = process.hrtime.bigint();
    for (let i = 0; i < 64 * 1024; i++) s.push(chunk);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    assert.equal(tooLong, 1);
    // Linear work is a few tens of ms here; re-copying the held bytes per chunk would be hours.
    assert.ok(ms < 5000, `took ${ms} ms`);
  });
});

describe('line formats', () => {
  test('decodeLine refuses invalid UTF-8 instead of replacing it', () => {
    assert.equal(decodeLine(Buffer.from('caf\u00e9', 'utf8')), 'caf\u00e9');
    assert.equal(decodeLine(Buffer.from([0x63, 0xff])), null);
    assert.equal(decodeLine(Buffer.from([0xc3])), null, 'a truncated sequence');
    assert.equal(decodeLine(Buffer.from([0xed, 0xa0, 0x80])), null, 'an encoded surrogate');
  });

  test('line, kv and json', () => {
    const line = lineFormatter('b', 's', 'line');
    assert.deepEqual(line('x = 1'), { topic: 'b/s', payload: 'x = 1' });
    assert.equal(line(''), 'empty');

    const kv = lineFormatter('b', 's', 'kv');
    assert.deepEqual(kv('temp=21.5'), { topic: 'b/temp', payload: '21.5' });
    assert.deepEqual(kv('A_b-9=x=y'), { topic: 'b/A_b-9', payload: 'x=y' });
    assert.deepEqual(kv('k='), { topic: 'b/k', payload: '' });
    for (const bad of ['=1', 'no pair', 'a b=1', 'a/b=1', 'a+=1', '#=1', 'caf\u00e9=1', ' k=1']) assert.equal(kv(bad), 'not_kv', bad);
    assert.equal(kv(''), 'empty');

    const json = lineFormatter('b', 's', 'json');
    assert.deepEqual(json(' {"a": [1]} '), { topic: 'b/s', payload: ' {"a": [1]} ' });
    assert.deepEqual(json('"text"'), { topic: 'b/s', payload: '"text"' });
    for (const bad of ['{', 'nope', "{'a':1}", '1 2']) assert.equal(json(bad), 'not_json', bad);
  });

  test('options: defaults and every problem at once', () => {
    const ok = resolveSerialSignal({ board: 'b', signal: 's', path: '/dev/serial0', format: 'kv' });
    assert.deepEqual(ok, { ok: true, value: { board: 'b', signal: 's', path: '/dev/serial0', format: 'kv', baud: 9600, delimiter: '\n', maxLineBytes: 4096 } });
    const bad = resolveSerialSignal({ board: 'b/x', signal: 's', path: '', format: 'csv' as 'line', baud: 0, delimiter: '', maxLineBytes: 1.5 });
    assert.equal(bad.ok, false);
    assert.equal(bad.ok ? 0 : bad.problems.length, 6);
  });
});
