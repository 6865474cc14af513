// What a test file that runs the packaged daemon shares: the bundle, built before its tests,
// and whatever its tests leave behind (daemons, folders, shells a killed daemon orphaned),
// removed after them.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { daemonConfig, packagedBundle, removePackagedBundle, spawnDaemon, until, type DaemonProcess, type Packaged } from './process.js';
import { makeTree, removeTree } from './workspace.js';

type Cleanup = () => Promise<void> | void;

export interface PackagedDaemons {
  /** The bundle (once the file's `before` hook has run). */
  readonly pkg: Packaged;
  /** Runs `fn` after the file's tests, the last added first; a failure there is ignored. */
  cleanup(fn: Cleanup): void;
  /** A folder with `daemonConfig(extraConfig)` as its sopgate.toml, and `files`. */
  workspace(files: Record<string, string>, extraConfig?: string): Promise<{ root: string; config: string }>;
  /** The packaged daemon on `config`, once it is ready; killed after the file's tests if still running. */
  daemon(config: string, options?: Parameters<typeof spawnDaemon>[2]): Promise<DaemonProcess>;
}

/** Call once, at a test file's top level. */
export function packagedDaemons(): PackagedDaemons {
  let pkg: Packaged | null = null;
  const cleanups: Cleanup[] = [];
  before(async () => {
    pkg = await packagedBundle();
  });
  after(async () => {
    for (const c of cleanups.reverse()) await Promise.resolve().then(c).catch(() => {});
    await removePackagedBundle();
  });
  const built = (): Packaged => {
    if (pkg === null) throw new Error('the packaged bundle is built in the before hook');
    return pkg;
  };
  return {
    get pkg() {
      return built();
    },
    cleanup: (fn) => void cleanups.push(fn),
    async workspace(files, extraConfig = '') {
      const root = await makeTree({ 'sopgate.toml': daemonConfig(extraConfig), ...files });
      cleanups.push(() => removeTree(root));
      return { root, config: join(root, 'sopgate.toml') };
    },
    async daemon(config, options = {}) {
      const d = await spawnDaemon(built().bundle, config, options);
      cleanups.push(() => d.kill());
      return d;
    },
  };
}

/**
 * The shells that `pidThenSleepStep` started in `folder`, by PID. A SIGKILLed daemon leaves
 * its shell behind: every process group is killed at `cleanup`.
 */
export function startedShells(folder: string, cleanup: (fn: Cleanup) => void): { atLeast(n: number): Promise<number[]> } {
  const file = join(folder, 'started.pids');
  const read = async (): Promise<number[]> => (existsSync(file) ? (await readFile(file, 'utf8')).split('\n').filter(Boolean).map(Number) : []);
  cleanup(async () => {
    for (const pid of await read()) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
  return {
    atLeast: (n) =>
      until(async () => {
        const pids = await read();
        return pids.length >= n ? pids : undefined;
      }, `${n} start(s) of the shell step`),
  };
}
