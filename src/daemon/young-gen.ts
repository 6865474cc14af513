// V8 doubles its young generation (the semi-spaces scavenges copy between) whenever more
// bytes have survived scavenges since the last growth than it holds, and an idle process
// never gives that memory back. A first start survives a lot exactly once (100 SOP.md
// parses, the matcher, every module's tables) and then goes quiet: the young generation
// grew from 4 to 8 MB on the way and stayed there, 4 MiB of RSS for the daemon's whole
// life. So growth is held off while the gateway starts and V8's own factor comes back once
// it is ready; a flood later still gets a young generation sized for it.
import { setFlagsFromString } from 'node:v8';

const FLAG = 'semi-space-growth-factor';
/** V8's default for the flag (v8/src/flags/flag-definitions.h). */
const V8_DEFAULT = 2;

/** Keeps the young generation at its size until the returned function is called. */
export function holdYoungGeneration(flags: readonly string[] = [...process.execArgv, process.env.NODE_OPTIONS ?? '']): () => void {
  // An operator who set the factor (node flag or NODE_OPTIONS) keeps theirs.
  if (flags.some((f) => f.includes(FLAG) || f.includes(FLAG.replaceAll('-', '_')))) return () => {};
  setFlagsFromString(`--${FLAG}=1`);
  let held = true;
  return () => {
    if (held) setFlagsFromString(`--${FLAG}=${V8_DEFAULT}`);
    held = false;
  };
}
