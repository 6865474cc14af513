// Bundles the CLI and daemon into one CommonJS file, dist/sopgate.bundle.cjs, beside its
// entry point dist/sopgate.cjs (scripts/entry.cjs) and the V8 code cache the entry point
// compiles it with (sopgate.bundle.cjs.v8cache, made here by starting the daemon once on the
// example workspace). Native packages stay external: they ship beside the bundle through
// `npm install --omit=dev`.
import { build } from 'esbuild';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
// `node build.mjs --outfile FILE` builds elsewhere (the bundle test uses a temp folder).
const flag = process.argv.indexOf('--outfile');
const entry = resolve(flag > 0 ? process.argv[flag + 1] : 'dist/sopgate.cjs');
const outfile = join(dirname(entry), 'sopgate.bundle.cjs');

// The build id: caches of computed results (the SOP.md parse cache) are valid for this code only.
const hash = createHash('sha256');
for (const file of ['package-lock.json', ...readdirSync('src', { recursive: true }).map((f) => `src/${f}`).filter((f) => f.endsWith('.ts')).sort()]) {
  hash.update(file).update(readFileSync(file));
}
const buildId = `${pkg.version}-${hash.digest('hex').slice(0, 16)}`;

await build({
  entryPoints: ['src/main.ts'],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minifySyntax: true,
  legalComments: 'none',
  external: ['better-sqlite3', 'serialport', '@serialport/*', 'onoff', 'epoll'],
  // mqtt-packet's per-packet `debug` calls cost garbage even when off (scripts/debug-off.cjs).
  alias: { debug: './scripts/debug-off.cjs' },
  // import.meta.url has no CommonJS equivalent; an injected module supplies it (createRequire needs it).
  inject: ['scripts/import-meta-url.js'],
  define: { __SOPGATE_VERSION__: JSON.stringify(pkg.version), __SOPGATE_BUILD__: JSON.stringify(buildId), 'import.meta.url': 'import_meta_url' },
  logLevel: 'warning',
});
// V8 keeps the bundle's source for lazy compilation, and keeps it one byte per character
// only if every character is Latin-1: the dashes and ellipses in comments (ours and our
// dependencies') made it two-byte, 1 MB more RSS for the daemon's whole life. esbuild writes
// strings and templates as ASCII already; what remains is comments and regular expression
// literals, where a \u escape stands for the same character, unless it follows a backslash.
// The entry point runs it (through vm), not the shell: no #! line.
const text = readFileSync(outfile, 'utf8').replace(/^#!.*\n/, '');
if (/\\[^\x00-\x7f]/.test(text)) throw new Error(`${outfile}: a backslash before a non-ASCII character; escape it in the source`);
writeFileSync(outfile, text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
copyFileSync('scripts/entry.cjs', entry);
chmodSync(entry, 0o755);
await writeCodeCache();

/**
 * Starts the daemon through the entry point on the example workspace (ports 0, state in a
 * temp folder) and stops it once ready: the entry point then writes what V8 compiled.
 */
async function writeCodeCache() {
  const cache = `${outfile}.v8cache`;
  rmSync(cache, { force: true });
  const dir = mkdtempSync(join(tmpdir(), 'sopgate-build-'));
  try {
    const config = join(dir, 'sopgate.toml');
    const workspace = resolve('examples/workspace');
    writeFileSync(
      config,
      `workspace = ${JSON.stringify(workspace)}\nstate_dir = ${JSON.stringify(join(dir, 'state'))}\n\n` +
        `[http]\nlisten = "127.0.0.1:0"\n\n[mqtt]\nlisten = "127.0.0.1:0"\n`,
    );
    // A bundle built outside the repository finds the native modules in the repository's.
    const modules = resolve('node_modules');
    const env = { ...process.env, SOPGATE_WRITE_CODE_CACHE: '1', NODE_PATH: process.env.NODE_PATH ? `${modules}:${process.env.NODE_PATH}` : modules };
    delete env.NOTIFY_SOCKET;
    delete env.NODE_OPTIONS; // V8 flags there would make a cache V8 rejects without them
    const child = spawn(process.execPath, [entry, 'daemon', '--config', config], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const exited = new Promise((done) => child.once('exit', (code, signal) => done(code ?? signal)));
    const ready = new Promise((done) => {
      const read = (chunk) => {
        output += chunk;
        if (/ ready: /.test(output)) done(true);
      };
      child.stdout.on('data', read);
      child.stderr.on('data', read);
      exited.then(() => done(false));
      setTimeout(() => done(false), 30_000).unref();
    });
    if (await ready) child.kill('SIGTERM');
    else child.kill('SIGKILL');
    const code = await exited;
    if (code !== 0 || !existsSync(cache)) {
      rmSync(cache, { force: true });
      throw new Error(`build.mjs: the daemon started for the code cache did not start and stop cleanly (${code}):\n${output}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
