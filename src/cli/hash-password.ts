// `sopgate hash-password [PASSWORD]`: prints a scrypt hash for an [[mqtt.users]] entry.
// Reading the password from stdin keeps it out of the shell history and `ps`.
import { EXIT, type CliIo } from './io.js';
import { hashPassword } from '../sources/mqtt/password.js';

export async function hashPasswordCommand(
  io: CliIo,
  password?: string,
  stdin: () => Promise<string> = readStdinLine,
): Promise<number> {
  const text = password ?? firstLine(await stdin());
  if (text === '') {
    io.err('hash-password: the password is empty (give it as an argument or on one line of stdin)');
    return EXIT.usage;
  }
  io.out(hashPassword(text));
  return EXIT.ok;
}

/** The first line, without its line ending; the rest of the input is ignored. */
function firstLine(text: string): string {
  const end = text.search(/\r?\n/);
  return end === -1 ? text : text.slice(0, end);
}

async function readStdinLine(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('password: ');
  process.stdin.setEncoding('utf8');
  let text = '';
  for await (const chunk of process.stdin) {
    text += chunk as string;
    if (text.includes('\n')) break;
  }
  return text;
}
