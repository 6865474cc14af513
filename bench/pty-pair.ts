// Two pseudo-terminals joined by socat (raw, no echo) at the link paths `a` and `b`: what is
// written into one is read from the other, as from a serial device. Resolves once socat
// says both ends are set up (the links exist by then).
import { spawn, type ChildProcess } from 'node:child_process';

export async function ptyPair(a: string, b: string): Promise<ChildProcess> {
  const child = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let log = '';
    child.stderr!.setEncoding('utf8').on('data', (text: string) => {
      log += text;
      if (log.includes('starting data transfer loop')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`socat exited (${code}): ${log}`)));
  });
  return child;
}
