// Bundles the CLI and daemon into one CommonJS file, dist/sopgate.cjs. Native packages stay
// external: they ship beside the bundle through `npm install --omit=dev`.
import { build } from 'esbuild';
import { readFileSync, chmodSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
// `node build.mjs --outfile FILE` builds elsewhere (the bundle test uses a temp folder).
const flag = process.argv.indexOf('--outfile');
const outfile = flag > 0 ? process.argv[flag + 1] : 'dist/sopgate.cjs';

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
  define: { __SOPGATE_VERSION__: JSON.stringify(pkg.version), 'import.meta.url': 'import_meta_url' },
  logLevel: 'warning',
});
chmodSync(outfile, 0o755);
