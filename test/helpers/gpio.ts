// libgpiod's tools faked on PATH (test/fixtures/fake-gpiod.cjs), a board profile in a temp
// file, and a GpioBoard that records its events: what the GPIO tests share.
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { parseBoardProfile, type BoardProfile } from '../../src/config/board-profile.js';
import type { Clock } from '../../src/core/clock.js';
import type { GatewayEvent } from '../../src/core/events.js';
import { memoryLogger } from './logger.js';
import { GpioBoard, type GpioBoardDeps } from '../../src/sources/gpio/board.js';
import { REPO } from './process.js';
import { removeTree, tempDir } from './workspace.js';

export interface FakeProc {
  tool: string;
  pid: number;
  args: string[];
  held: { chip: string; offset: number; name: string; value?: number }[];
}

export interface FakeGpiod {
  dir: string;
  /** The tools' environment: the fakes first on PATH (alone on it without `systemPath`). */
  env: NodeJS.ProcessEnv;
  /** The fake tools running now. */
  procs(): Promise<FakeProc[]>;
  /** Has the gpiomon `pid` report an edge to `level` on `offset`. */
  edge(pid: number, offset: number, level: 0 | 1): Promise<void>;
  remove(): Promise<void>;
}

const FAKE = join(REPO, 'test/fixtures/fake-gpiod.cjs');

/** True while `pid` runs (a zombie waiting for its parent to reap it counts as gone). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

export async function fakeGpiod(version: string, options: { tools?: string[]; systemPath?: boolean } = {}): Promise<FakeGpiod> {
  const dir = await tempDir('sopgate-gpiod-');
  const bin = join(dir, 'bin');
  const state = join(dir, 'state');
  await mkdir(bin);
  await mkdir(join(state, 'procs'), { recursive: true });
  const tools = options.tools ?? (version.startsWith('1.') ? ['gpiomon', 'gpioset', 'gpiofind'] : ['gpiomon', 'gpioset', 'gpioinfo']);
  for (const tool of tools) {
    await writeFile(join(bin, tool), `#!${process.execPath}\nrequire(${JSON.stringify(FAKE)});\n`);
    await chmod(join(bin, tool), 0o755);
  }
  const path = options.systemPath === false ? bin : `${bin}:${process.env.PATH}`;
  const env = { ...process.env, PATH: path, FAKE_GPIOD_VERSION: version, FAKE_GPIOD_STATE: state };
  return {
    dir,
    env,
    async procs() {
      const files = (await readdir(join(state, 'procs'))).filter((f) => f.endsWith('.json'));
      const all = await Promise.all(files.map(async (f) => JSON.parse(await readFile(join(state, 'procs', f), 'utf8')) as FakeProc));
      return all.filter((p) => isAlive(p.pid)).sort((a, b) => a.pid - b.pid);
    },
    edge: (pid, offset, level) =>
      new Promise((resolve, reject) => {
        const socket = connect(join(state, `ctl-${pid}.sock`), () => socket.write(`edge ${offset} ${level}\n`));
        socket.setEncoding('utf8').once('data', (answer: string) => {
          socket.end();
          if (answer.startsWith('ok')) resolve();
          else reject(new Error(`fake gpiomon ${pid}: ${answer}`));
        });
        socket.once('error', reject);
      }),
    remove: () => removeTree(dir),
  };
}

/** Parses a profile written inline; fails the test on any finding. */
export function profile(toml: string, file = '/boards/test.toml'): BoardProfile {
  const r = parseBoardProfile(toml, file);
  if (r.profile === null || r.errors.length > 0 || r.warnings.length > 0) {
    throw new Error(`profile has findings: ${JSON.stringify([...r.errors, ...r.warnings])}`);
  }
  return r.profile;
}

/** A GpioBoard whose events, approval presses and log lines are kept for the test. */
export function recordingBoard(p: BoardProfile, clock: Clock, extra: Partial<GpioBoardDeps> = {}) {
  const events: GatewayEvent[] = [];
  const presses: { board: string; signal: string; sop: string | null }[] = [];
  const logger = memoryLogger();
  const board = new GpioBoard(p, {
    clock,
    logger,
    onEvent: (e) => events.push(e),
    onApprovePress: (board, signal, sop) => presses.push({ board, signal, sop }),
    ...extra,
  });
  const stateOf = (signal: string) => board.state().find((s) => s.signal === signal);
  return { board, events, presses, logger, stateOf };
}
