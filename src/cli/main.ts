// `sopgate <command>`: parses the command line and hands over to one command (docs/cli.md).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { EXIT, UsageError, type CliIo } from './io.js';
import { listCommand, showCommand } from './list.js';
import { matchCommand } from './match.js';
import { executeCommand, runActionCommand, runsCommand, runShowCommand, simpleCommand } from './runs.js';
import { validateCommand } from './validate.js';
import { DaemonUnreachable } from './client.js';
import { daemonCommand } from './daemon.js';
import { hashPasswordCommand } from './hash-password.js';
import { simCommand } from './sim.js';
import { VERSION } from '../core/version.js';

const GLOBAL = {
  config: { type: 'string' },
  'sops-dir': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

const RUNS = { ...GLOBAL, status: { type: 'string' }, sop: { type: 'string' } } as const satisfies ParseArgsConfig['options'];
const EXECUTE = { ...GLOBAL, payload: { type: 'string' } } as const satisfies ParseArgsConfig['options'];
const ADVANCE = { ...GLOBAL, status: { type: 'string' }, output: { type: 'string' } } as const satisfies ParseArgsConfig['options'];

const MATCH = {
  ...GLOBAL,
  source: { type: 'string' },
  topic: { type: 'string' },
  payload: { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

export const USAGE = `sopgate ${VERSION}: runs Standard Operating Procedures at the edge

usage: sopgate <command> [options]

definition commands (no daemon needed):
  validate [name] [--json]       check SOPs; exit 0 clean, 1 errors or warnings, 2 usage
  list [--json]                  one line per SOP
  show <name> [--json]           the parsed SOP
  match --source S [--topic T] [--payload P] [--json]
                                 which SOPs an event would start (dry run)
                                 S: mqtt, webhook, cron, peripheral, manual

the gateway:
  daemon                         run the gateway (systemd runs this); SIGHUP reloads the SOPs
  hash-password [PASSWORD]       print a password hash for [[mqtt.users]] (reads stdin if omitted)

daemon commands (talk to the running gateway over its HTTP API):
  runs [--status S] [--sop NAME] [--json]     recent runs, newest first
  runs show <run> [--json]                    one run with its step results
  execute <sop> [--payload P] [--json]        start a SOP that has a manual trigger
  approve <run>                               approve the step a run waits at
  advance <run> --status completed|failed|skipped [--output O]
                                              report an external step's result
  cancel <run>                                cancel an active run
  reload                                      reload the SOPs (like SIGHUP)
  status [--json]                             the daemon's state, and the board signals that are down
  sim <board>/<signal> [value] [--json]       drive a sim board's signal (1 or 0, or serial lines)
                                              or, without a value, read it and what was written to it
  exit 0 done, 1 refused or daemon not reachable, 2 usage

options:
  --config FILE                  gateway config (default ./sopgate.toml, else defaults)
  --sops-dir DIR                 SOP folder, overriding the config
  --json                         machine-readable output
  -h, --help                     this text;  --version  the version
`;

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(USAGE);
        return command === undefined ? EXIT.usage : EXIT.ok;
      case '--version':
      case 'version':
        io.out(VERSION);
        return EXIT.ok;
      case 'validate': {
        const { values, name } = parse(rest, GLOBAL, 1);
        return values.help ? help(io) : await validateCommand(io, name, values);
      }
      case 'list': {
        const { values } = parse(rest, GLOBAL, 0);
        return values.help ? help(io) : await listCommand(io, values);
      }
      case 'show': {
        const { values, name } = parse(rest, GLOBAL, 1);
        return values.help ? help(io) : await showCommand(io, name, values);
      }
      case 'match': {
        const { values } = parse(rest, MATCH, 0);
        return values.help ? help(io) : await matchCommand(io, values);
      }
      case 'runs': {
        const { values, positionals } = parse(rest, RUNS, 2);
        if (values.help) return help(io);
        if (positionals[0] === 'show') return await runShowCommand(io, positionals[1], values);
        if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}" (did you mean: sopgate runs show <run>?)`);
        return await runsCommand(io, values);
      }
      case 'execute': {
        const { values, name } = parse(rest, EXECUTE, 1);
        return values.help ? help(io) : await executeCommand(io, name, values);
      }
      case 'approve':
      case 'cancel': {
        const { values, name } = parse(rest, GLOBAL, 1);
        return values.help ? help(io) : await runActionCommand(io, command, name, values);
      }
      case 'advance': {
        const { values, name } = parse(rest, ADVANCE, 1);
        return values.help ? help(io) : await runActionCommand(io, command, name, values);
      }
      case 'daemon': {
        const { values } = parse(rest, GLOBAL, 0);
        return values.help ? help(io) : await daemonCommand(io, values);
      }
      case 'hash-password': {
        const { values, name } = parse(rest, GLOBAL, 1);
        return values.help ? help(io) : await hashPasswordCommand(io, name);
      }
      case 'sim': {
        const { values, positionals } = parse(rest, GLOBAL, 2);
        return values.help ? help(io) : await simCommand(io, positionals[0], positionals[1], values);
      }
      case 'reload':
      case 'status': {
        const { values } = parse(rest, GLOBAL, 0);
        return values.help ? help(io) : await simpleCommand(io, command, values);
      }
      default:
        throw new UsageError(`unknown command "${command}" (sopgate --help lists the commands)`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`sopgate: ${err.message}`);
      return EXIT.usage;
    }
    if (err instanceof DaemonUnreachable) {
      io.err(`sopgate: ${err.message}`);
      return EXIT.failed;
    }
    throw err;
  }
}

function help(io: CliIo): number {
  io.out(USAGE);
  return EXIT.ok;
}

/**
 * `--payload -1` as `--payload=-1`: a string option takes the next word as its value even
 * when that starts with a dash (node's parseArgs refuses it as ambiguous), as getopt does.
 */
function attachValues(args: readonly string[], options: NonNullable<ParseArgsConfig['options']>): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      out.push(...args.slice(i));
      break;
    }
    const option = arg.startsWith('--') && !arg.includes('=') ? options[arg.slice(2)] : undefined;
    if (option?.type === 'string' && i + 1 < args.length) out.push(`${arg}=${args[++i]}`);
    else out.push(arg);
  }
  return out;
}

function parse<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O, maxPositionals: number) {
  const parsed = (() => {
    try {
      return parseArgs({ args: attachValues(args, options), options, allowPositionals: true, strict: true });
    } catch (err) {
      // node's messages name the option and the fix; drop its error-code decoration.
      throw new UsageError((err as Error).message.replace(/\. To specify a positional argument.*$/, ''));
    }
  })();
  if (parsed.positionals.length > maxPositionals) {
    throw new UsageError(`unexpected argument "${parsed.positionals[maxPositionals]}"`);
  }
  return { values: parsed.values, name: parsed.positionals[0], positionals: parsed.positionals };
}
