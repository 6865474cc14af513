// Serial benchmark: prints figures, asserts nothing but "nothing lost". `npm run bench:serial`.
//
// For each line format, a socat pty pair: the gateway reads one end through SerialSource;
// a separate process (cat) writes LINES lines into the other. Every event goes into a
// counting sink that stands in for the matcher. Prints lines/s from the first byte
// written to the last event, and the reader's CPU per line. A pty has no baud rate: this
// is the reader's headroom, far above what a UART carries (115200 baud is ~11.5 KB/s).
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { systemClock } from '../src/core/clock.js';
import { createLogger } from '../src/core/log.js';
import { SerialSource, type SerialFormat } from '../src/sources/serial/index.js';
import { ptyPair } from './pty-pair.js';

const LINES = 200_000;
const TARGET = 20_000;

const FORMATS: { format: SerialFormat; line: (i: number) => string }[] = [
  { format: 'line', line: (i) => `T:${(20 + (i % 100) / 10).toFixed(1)} seq ${i}` },
  { format: 'kv', line: (i) => `${['temp', 'hum', 'co2', 'pressure'][i % 4]}=${(i % 1000) / 10}` },
  { format: 'json', line: (i) => `{"t":${(20 + (i % 100) / 10).toFixed(1)},"seq":${i},"ok":true}` },
];


async function run(dir: string, format: SerialFormat, line: (i: number) => string): Promise<void> {
  const file = join(dir, `${format}.txt`);
  const text = Array.from({ length: LINES }, (_, i) => `${line(i)}\r\n`).join('');
  await writeFile(file, text);
  const [a, b] = [join(dir, `${format}-a`), join(dir, `${format}-b`)];
  const socat = await ptyPair(a, b);

  let events = 0;
  let last = '';
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  const source = new SerialSource({
    signals: [{ board: 'bench', signal: 'uart', path: a, format, baud: 115200 }],
    clock: systemClock,
    logger: createLogger({ level: 'warn' }),
    onEvent: (event) => {
      events++;
      last = event.payload ?? '';
      if (events === LINES) done();
    },
  });
  await source.start();

  const cpu = process.cpuUsage();
  const started = performance.now();
  const writer = spawn('sh', ['-c', 'cat "$1" > "$2"', 'sh', file, b], { stdio: 'inherit' });
  const timeout = setTimeout(() => done(), 120_000);
  await all;
  clearTimeout(timeout);
  const ms = performance.now() - started;
  const used = process.cpuUsage(cpu);
  const status = source.statuses()[0]!;
  await source.stop();
  writer.kill();
  socat.kill();

  const expectLast = format === 'kv' ? String(((LINES - 1) % 1000) / 10) : line(LINES - 1);
  const lost = LINES - events;
  const rate = Math.round(LINES / (ms / 1000));
  console.log(
    `${format.padEnd(5)} ${LINES.toLocaleString('en')} lines (${(text.length / 1e6).toFixed(1)} MB): ` +
      `${rate.toLocaleString('en')} lines/s, ${((used.user + used.system) / LINES).toFixed(2)} µs CPU/line, ` +
      `lost ${lost}, dropped ${JSON.stringify(status.dropped)}${rate < TARGET ? `  (below the ${TARGET.toLocaleString('en')} target)` : ''}`,
  );
  if (lost !== 0 || last !== expectLast) {
    console.error(`${format}: lines were lost (got ${events}, last ${JSON.stringify(last)})`);
    process.exitCode = 1;
  }
}

const dir = await mkdtemp(join(tmpdir(), 'sopgate-bench-serial-'));
try {
  console.log(`serial reader, ${LINES.toLocaleString('en')} lines per format through a socat pty pair ("\\r\\n" endings)`);
  for (const { format, line } of FORMATS) await run(dir, format, line);
  console.log(`rss ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
