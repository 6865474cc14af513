// The daemon as a real child process: the bundle built once into a temp folder laid out
// as `npm install --omit=dev` would leave it (dist/sopgate.cjs, package.json and only the
// production dependency closure in node_modules), spawned on port 0, its ready line
// parsed, its output collected. Every child is killed when the test process exits.
import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdir, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { requestJson, TOKEN } from './http.js';
import { removeTree, tempDir } from './workspace.js';

export const REPO = resolve(import.meta.dirname, '../..');
/** Every wait in these tests gives up after this long unless told otherwise. */
export const WAIT_MS = 10_000;

/** `promise`, or a rejection naming `what` once `ms` have passed. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Polls `check` every `everyMs` until it returns something other than undefined, for what
 * sends no event (files, another process, HTTP state); gives up after `ms`.
 */
export async function until<T>(check: () => Promise<T | undefined>, what: string, ms = WAIT_MS, everyMs = 20): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

// --- the production dependency closure ---

interface Manifest {
  name?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

async function manifest(dir: string): Promise<Manifest> {
  return JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as Manifest;
}

/** Where Node would find `name` from the package in `fromDir`: its own node_modules, then each parent's. */
function locate(root: string, fromDir: string, name: string): string | null {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === root || relative(root, dir).startsWith('..')) return null;
  }
}

/**
 * The folders (relative to `root`, e.g. `node_modules/bindings`) of every package reachable
 * from the `dependencies` (and installed `optionalDependencies`) of root/package.json:
 * exactly what `npm install --omit=dev` puts in node_modules.
 */
export async function productionClosure(root = REPO): Promise<string[]> {
  const found = new Set<string>();
  const visit = async (dir: string, isRoot: boolean): Promise<void> => {
    const m = await manifest(dir);
    const wanted = [...Object.keys(m.dependencies ?? {}), ...Object.keys(m.optionalDependencies ?? {})];
    for (const name of wanted) {
      const at = locate(root, dir, name);
      if (at === null) {
        if (name in (m.optionalDependencies ?? {})) continue;
        throw new Error(`${isRoot ? 'package.json' : dir} depends on ${name}, which is not installed`);
      }
      const rel = relative(root, at);
      if (found.has(rel)) continue;
      found.add(rel);
      await visit(at, false);
    }
  };
  await visit(root, true);
  return [...found].sort();
}

/** Copies the closure's package folders from `from` to `to` (nested node_modules inside them included). */
export async function copyClosure(from: string, to: string, closure: readonly string[]): Promise<void> {
  for (const rel of closure) {
    // A nested package is copied with its parent; copying it again is harmless but slow.
    if (closure.some((other) => other !== rel && rel.startsWith(`${other}/node_modules/`))) continue;
    await mkdir(dirname(join(to, rel)), { recursive: true });
    await cp(join(from, rel), join(to, rel), { recursive: true, verbatimSymlinks: true });
  }
}

// --- the packaged bundle, built once per test process ---

export interface Packaged {
  /** The temp folder: dist/ (sopgate.cjs and the bundle beside it), package.json, node_modules. */
  dir: string;
  bundle: string;
  closure: string[];
}

let packaged: Promise<Packaged> | null = null;

/** Builds the bundle into a fresh temp folder with only the production closure beside it; once per process. */
export function packagedBundle(): Promise<Packaged> {
  packaged ??= (async () => {
    const dir = await tempDir('sopgate-pkg-');
    const bundle = join(dir, 'dist/sopgate.cjs');
    await runNode([join(REPO, 'build.mjs'), '--outfile', bundle], { cwd: REPO, timeoutMs: 60_000 }).then((r) => {
      if (r.code !== 0) throw new Error(`build.mjs failed (${r.code}): ${r.stdout}${r.stderr}`);
    });
    await cp(join(REPO, 'package.json'), join(dir, 'package.json'));
    const closure = await productionClosure(REPO);
    await copyClosure(REPO, dir, closure);
    return { dir, bundle, closure };
  })();
  return packaged;
}

export async function removePackagedBundle(): Promise<void> {
  if (packaged === null) return;
  const p = packaged;
  packaged = null;
  await removeTree((await p).dir);
}

// --- children ---

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** An environment without anything that would change how the child resolves modules or talks to systemd. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of ['NODE_OPTIONS', 'NODE_PATH', 'NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID', 'SOPGATE_LOG_LEVEL']) delete env[key];
  return { ...env, ...extra };
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node ...args` to completion (killed after timeoutMs). */
export function runNode(args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<RunResult> {
  return runCommand(process.execPath, args, options);
}

/** Runs a command to completion, collecting its output; killed (SIGKILL) after timeoutMs. */
export function runCommand(
  file: string,
  args: string[],
  options: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number },
): Promise<RunResult> {
  const child = spawn(file, args, { cwd: options.cwd, env: options.env ?? cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const ms = options.timeoutMs ?? WAIT_MS;
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  return new Promise((resolve, reject) => {
    child.once('error', (err) => {
      clearTimeout(timer);
      live.delete(child);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      if (signal === 'SIGKILL' && code === null) stderr += `\n[killed after ${ms} ms]`;
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** A config file for a daemon on port 0 with the test token; `extra` goes before the tables, `http` into [http]. */
export function daemonConfig(extra = '', http = ''): string {
  return `state_dir = "state"\n${extra}\n[http]\nlisten = "127.0.0.1:0"\ntoken = "${TOKEN}"\n${http}\n[mqtt]\nlisten = "127.0.0.1:0"\n`;
}

export interface ApiReply {
  status: number;
  headers: Headers;
  body: any;
}

export interface DaemonProcess {
  child: ChildProcess;
  /** stdout lines so far. */
  lines: string[];
  stderr(): string;
  http: number;
  mqtt: number | null;
  base: string;
  /** Resolves once the process has exited and its output is read. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The first stdout line (already seen or still to come) matching `re`. */
  waitForLine(re: RegExp, ms?: number): Promise<string>;
  api(method: string, path: string, body?: string): Promise<ApiReply>;
  /** SIGKILL unless it has already exited; resolves once it has. */
  kill(): Promise<void>;
}

const READY = /\bready: HTTP on (\S+):(\d+), (?:MQTT on (\S+):(\d+)|embedded broker disabled)/;

/** Spawns `node <bundle> daemon --config <config>` and resolves once it prints its ready line. */
export async function spawnDaemon(
  bundle: string,
  config: string,
  options: { cwd?: string; env?: NodeJS.ProcessEnv; readyMs?: number } = {},
): Promise<DaemonProcess> {
  const child = spawn(process.execPath, [bundle, 'daemon', '--config', config], {
    cwd: options.cwd ?? dirname(config),
    env: options.env ?? cleanEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const lines: string[] = [];
  let stderr = '';
  const waiters = new Set<{ re: RegExp; resolve: (line: string) => void; reject: (err: Error) => void }>();
  const output = () => `stdout:\n${lines.join('\n')}\nstderr:\n${stderr}`;

  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const w of waiters) {
      if (w.re.test(line)) {
        waiters.delete(w);
        w.resolve(line);
      }
    }
  });
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => {
      done = true;
      live.delete(child);
      for (const w of waiters) w.reject(new Error(`the daemon exited (code ${code}, signal ${signal}) before a line matched ${w.re}\n${output()}`));
      waiters.clear();
      resolve({ code, signal });
    });
  });

  const waitForLine = (re: RegExp, ms = WAIT_MS): Promise<string> => {
    const seen = lines.find((l) => re.test(l));
    if (seen !== undefined) return Promise.resolve(seen);
    if (done) return Promise.reject(new Error(`the daemon has exited; no line matched ${re}\n${output()}`));
    let waiter!: { re: RegExp; resolve: (line: string) => void; reject: (err: Error) => void };
    const found = new Promise<string>((resolve, reject) => {
      waiter = { re, resolve, reject };
      waiters.add(waiter);
    });
    return withTimeout(found, ms, `a daemon line matching ${re}`).catch((err: Error) => {
      waiters.delete(waiter);
      throw new Error(`${err.message}\n${output()}`);
    });
  };

  const kill = async (): Promise<void> => {
    if (!done) child.kill('SIGKILL');
    await exited;
  };

  let ready: RegExpExecArray;
  try {
    ready = READY.exec(await waitForLine(READY, options.readyMs ?? WAIT_MS))!;
  } catch (err) {
    await kill();
    throw err;
  }
  const http = Number(ready[2]);
  const base = `http://127.0.0.1:${http}`;
  return {
    child,
    lines,
    stderr: () => stderr,
    http,
    mqtt: ready[4] === undefined ? null : Number(ready[4]),
    base,
    exited,
    waitForLine,
    kill,
    api: (method, path, body) => requestJson(base, TOKEN, method, path, body, WAIT_MS),
  };
}
