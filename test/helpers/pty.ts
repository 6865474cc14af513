// A serial device stand-in: socat makes a real pseudo-terminal (raw, no echo) at a fixed
// link path and connects its other end to pipes, so the test writes what the "device"
// sends with ordinary async pipe writes (a synchronous write into a pty from the reading
// process deadlocks once its buffer fills) and reads what the gateway wrote. Killing socat
// is an unplug (its link goes too); starting it again at the same path is a replug.
import { spawn, type ChildProcess } from 'node:child_process';
import { withTimeout, WAIT_MS } from './process.js';

export interface PtyDevice {
  /** The link path the gateway opens. */
  readonly path: string;
  /** Sends bytes as the device; resolves once socat has taken them. */
  send(data: string | Buffer): Promise<void>;
  /** Everything the gateway wrote to the device since it was (re)plugged. */
  received(): string;
  /** Resolves with received() once it matches `re`. */
  waitForReceived(re: RegExp, ms?: number): Promise<string>;
  unplug(): Promise<void>;
  plug(): Promise<void>;
  /** Stops socat (SIGSTOP): the device reads nothing more, and the pty's buffer fills. */
  pause(): void;
  resume(): void;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export async function ptyDevice(path: string): Promise<PtyDevice> {
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let received = '';
  let waiters: { re: RegExp; resolve: (text: string) => void }[] = [];

  const plug = async (): Promise<void> => {
    if (child !== null) throw new Error('already plugged');
    received = '';
    const c = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${path}`, 'STDIO'], { stdio: ['pipe', 'pipe', 'pipe'] });
    child = c;
    live.add(c);
    exited = new Promise((resolve) => c.once('exit', () => resolve()));
    void exited.then(() => live.delete(c));
    c.stdout!.setEncoding('latin1').on('data', (text: string) => {
      received += text;
      waiters = waiters.filter((w) => {
        if (!w.re.test(received)) return true;
        w.resolve(received);
        return false;
      });
    });
    let log = '';
    // -d -d: socat says when both ends are set up (the link exists by then).
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        c.stderr!.setEncoding('utf8').on('data', (text: string) => {
          log += text;
          if (log.includes('starting data transfer loop')) resolve();
        });
        c.once('exit', (code) => reject(new Error(`socat exited (${code}) before it was ready: ${log}`)));
      }),
      WAIT_MS,
      `socat at ${path}`,
    );
  };

  const unplug = async (): Promise<void> => {
    if (child === null) return;
    child.kill('SIGTERM');
    await exited;
    child = null;
  };

  await plug();
  return {
    path,
    send: (data) =>
      new Promise<void>((resolve, reject) => {
        if (child === null) return reject(new Error('unplugged'));
        child.stdin!.write(data, (err) => (err ? reject(err) : resolve()));
      }),
    received: () => received,
    waitForReceived: (re, ms = WAIT_MS) => {
      if (re.test(received)) return Promise.resolve(received);
      return withTimeout(new Promise<string>((resolve) => waiters.push({ re, resolve })), ms, `the device to receive ${re} (got ${JSON.stringify(received)})`);
    },
    unplug,
    plug,
    pause: () => void child?.kill('SIGSTOP'),
    resume: () => void child?.kill('SIGCONT'),
  };
}
