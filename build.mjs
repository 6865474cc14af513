// Bundles the CLI and daemon into one CommonJS file, dist/sopgate.cjs, and the upstream
// connection's MQTT client into dist/mqtt-client.cjs beside it. Native packages stay
// external: they ship beside the bundle through `npm install --omit=dev`.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { chmodSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { EXTERNAL } from './scripts/externals.mjs';

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
// `node build.mjs --outfile FILE` builds elsewhere (the bundle test uses a temp folder).
const flag = process.argv.indexOf('--outfile');
const outfile = resolve(flag > 0 ? process.argv[flag + 1] : 'dist/sopgate.cjs');

// The build id: caches of computed results (the SOP.md parse cache) are valid for this code only.
const hash = createHash('sha256');
for (const file of ['package-lock.json', ...readdirSync('src', { recursive: true }).map((f) => `src/${f}`).filter((f) => f.endsWith('.ts')).sort()]) {
  hash.update(file).update(readFileSync(file));
}
const buildId = `${pkg.version}-${hash.digest('hex').slice(0, 16)}`;

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minifySyntax: true,
  legalComments: 'none',
  external: EXTERNAL,
  logLevel: 'warning',
};
await build({
  ...common,
  entryPoints: ['src/main.ts'],
  outfile,
  // mqtt-packet's per-packet `debug` calls cost garbage even when off (scripts/debug-off.cjs);
  // the upstream's MQTT client is loaded from its own bundle, only when there is an upstream.
  alias: { debug: './scripts/debug-off.cjs', mqtt: './scripts/mqtt-client.cjs' },
  // import.meta.url has no CommonJS equivalent; an injected module supplies it (createRequire needs it).
  inject: ['scripts/import-meta-url.js'],
  define: { __SOPGATE_VERSION__: JSON.stringify(pkg.version), __SOPGATE_BUILD__: JSON.stringify(buildId), 'import.meta.url': 'import_meta_url' },
});
const clientFile = join(dirname(outfile), 'mqtt-client.cjs');
await build({
  ...common,
  stdin: { contents: "module.exports = require('mqtt');", resolveDir: process.cwd(), loader: 'js' },
  outfile: clientFile,
  alias: { debug: './scripts/debug-off.cjs' },
});
// V8 keeps the bundle's source for lazy compilation, and keeps it one byte per character
// only if every character is Latin-1: the dashes and ellipses in comments (ours and our
// dependencies') made it two-byte, 1 MB more RSS for the daemon's whole life. esbuild writes
// strings and templates as ASCII already; what remains is comments and regular expression
// literals, where a \u escape stands for the same character, unless it follows a backslash.
for (const [file, shebang] of [[outfile, '#!/usr/bin/env node\n'], [clientFile, '']]) {
  const text = readFileSync(file, 'utf8').replace(/^#!.*\n/, '');
  if (/\\[^\x00-\x7f]/.test(text)) throw new Error(`${file}: a backslash before a non-ASCII character; escape it in the source`);
  writeFileSync(file, `${shebang}${text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}`);
}
chmodSync(outfile, 0o755);
