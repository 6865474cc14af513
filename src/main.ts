#!/usr/bin/env node
// The bundle's entry point: the command line, with exceptions turned into one clear line.
import { runCli } from './cli/main.js';
import { processIo } from './cli/io.js';

runCli(process.argv.slice(2), processIo()).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`sopgate: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 70;
  },
);
