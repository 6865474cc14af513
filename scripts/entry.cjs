#!/usr/bin/env node
// sopgate's entry point (build.mjs copies it to dist/sopgate.cjs). It compiles the bundle
// beside it, sopgate.bundle.cjs, with the V8 code cache build.mjs made by starting the
// daemon once: a start then does not parse and compile again the functions start-up runs
// (25-30 of the daemon's ~290 ms to ready on the development machine; a command of the CLI
// gains alike). Without the cache, or with one made for another bundle, Node.js or V8
// flags, the bundle compiles as it would without this file.
'use strict';
const { createHash } = require('node:crypto');
const { readFileSync, writeFileSync } = require('node:fs');
const Module = require('node:module');
const { join } = require('node:path');
const vm = require('node:vm');

const file = join(__dirname, 'sopgate.bundle.cjs');
const cacheFile = `${file}.v8cache`;
// The bundle is ASCII (build.mjs): read as Latin-1 it is a one-byte string, as node reads it.
const source = readFileSync(file, 'latin1');
// V8 checks the source only by its length, and refuses a cache made under other V8 flags
// only once the file has been read. So the cache file starts with the SHA-256 of the
// bundle, the Node.js and the options it was made for (the daemon build.mjs starts has
// none), and is used for those only.
const digest = createHash('sha256').update(source, 'latin1').update(`\0${process.version} ${process.arch} ${nodeOptions()}`).digest();
let cachedData;
try {
  const cache = readFileSync(cacheFile);
  if (cache.subarray(0, digest.length).equals(digest)) cachedData = cache.subarray(digest.length);
} catch {
  // no cache: compile as usual
}
const script = new vm.Script(Module.wrap(source), { filename: file, cachedData });
globalThis.__sopgateCodeCache = cachedData === undefined ? 'none' : script.cachedDataRejected ? 'rejected' : 'used';
// build.mjs: once the daemon it started has stopped, keep what V8 compiled meanwhile.
if (process.env.SOPGATE_WRITE_CODE_CACHE === '1') {
  process.on('exit', () => {
    try {
      writeFileSync(cacheFile, Buffer.concat([digest, script.createCachedData()]));
    } catch (err) {
      process.stderr.write(`sopgate: cannot write the code cache ${cacheFile}: ${err.message}\n`);
    }
  });
}
const bundle = new Module(file, module);
bundle.filename = file;
bundle.loaded = true;
script.runInThisContext().call(bundle.exports, bundle.exports, Module.createRequire(file), bundle, file, __dirname);

/** Options that may set V8 flags: the command line's, less preloads, and NODE_OPTIONS. */
function nodeOptions() {
  const kept = [];
  const args = process.execArgv;
  for (let i = 0; i < args.length; i++) {
    if (/^(-r|--require|--import|--loader|--experimental-loader)$/.test(args[i])) i++;
    else if (!/^--(require|import|loader|experimental-loader)=/.test(args[i])) kept.push(args[i]);
  }
  return `${kept.join(' ')}|${process.env.NODE_OPTIONS ?? ''}`;
}
