// Start-up runs a lot of code exactly once (100 SOP.md parses, the matcher, every module's
// tables) and then goes quiet, and V8 sizes itself for work that looked hot:
//   - it doubles its young generation whenever more bytes have survived scavenges since the
//     last growth than it holds: a first start grew it from 4 to 8 MB;
//   - it optimises the parser's hot functions with TurboFan on background threads, whose
//     malloc arenas keep what those compilations used, for code never run again.
// An idle process gives neither back (4 and 4 MiB of a first start's RSS). So while the
// gateway starts, the young generation does not grow and functions stop at the baseline
// tier (Sparkplug); once it is ready V8's own settings are back, and the message path
// gets optimised as soon as traffic makes it hot.
import { setFlagsFromString } from 'node:v8';

/**
 * V8 flags held during start-up, each with V8's default to restore
 * (v8/src/flags/flag-definitions.h), and the names by which an operator may have set it.
 */
const HELD = [
  { during: '--semi-space-growth-factor=1', after: '--semi-space-growth-factor=2', names: ['semi-space-growth-factor', 'semi_space_growth_factor'] },
  { during: '--no-turbofan', after: '--turbofan', names: ['turbofan', '--opt', '--no-opt', 'max-opt', 'max_opt', 'jitless'] },
];

/** Holds the flags until the returned function is called; an operator's own setting of one is left alone. */
export function holdForStartup(flags: readonly string[] = [...process.execArgv, process.env.NODE_OPTIONS ?? '']): () => void {
  const held = HELD.filter(({ names }) => !flags.some((f) => names.some((name) => f.includes(name))));
  for (const { during } of held) setFlagsFromString(during);
  let done = false;
  return () => {
    if (!done) for (const { after } of held) setFlagsFromString(after);
    done = true;
  };
}
