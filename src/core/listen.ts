// Listen addresses as the configuration writes them: "host:port", "[v6]:port" or ":port"
// (every interface). Checked when the configuration loads; the listeners and the CLI read
// them with the same rule.

export interface ListenAddress {
  host: string;
  port: number;
}

const LISTEN = /^(?:\[([^\]]+)\]|([^:[\]]*)):(\d{1,5})$/;

/** What the configuration says of a listen address that is none of the accepted forms. */
export const LISTEN_FORMS = 'an address "host:port", "[v6]:port" or ":port" (port 0 to 65535; 0 picks a free one)';

/** The address, or null when `text` is none of the accepted forms. */
export function parseListen(text: string): ListenAddress | null {
  const m = LISTEN.exec(text.trim());
  if (m === null) return null;
  const port = Number(m[3]);
  if (port > 65535) return null;
  return { host: m[1] ?? (m[2] === '' || m[2] === undefined ? '0.0.0.0' : m[2]), port };
}

/** Where a client on this machine reaches a listener: a wildcard host is reached on loopback. */
export function localUrl(scheme: string, address: ListenAddress): string {
  const host = address.host === '0.0.0.0' ? '127.0.0.1' : address.host === '::' ? '::1' : address.host;
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
}

/** For listeners, whose address the configuration has already checked. */
export function listenAddress(text: string): ListenAddress {
  const address = parseListen(text);
  if (address === null) throw new Error(`invalid listen address ${JSON.stringify(text)}: expected ${LISTEN_FORMS}`);
  return address;
}

/** Whether a host only this machine can reach: 127.0.0.0/8, ::1 or localhost. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
