#!/usr/bin/env node
// The bundle's entry point: the command line, with exceptions turned into one clear line.
import { runCli } from './cli/main.js';
import { processIo } from './cli/io.js';

// A closed stdout (`sopgate runs | head`, a restarted journal) must not crash the process:
// output that has nowhere to go is dropped. Without a listener, EPIPE is an uncaught error.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});

runCli(process.argv.slice(2), processIo()).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`sopgate: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 70;
  },
);
