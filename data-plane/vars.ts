/**
 * APISIX-style request variables for route `vars` and chash keys:
 * `uri`, `host`, `remote_addr`, `request_method`, `scheme`, `server_port`,
 * `arg_<name>` (query), `http_<name>` (header, `_` for `-`) and
 * `cookie_<name>`.
 */
import type { IncomingMessage } from 'node:http';

export class RequestVars {
  #query?: URLSearchParams;
  #cookies?: Map<string, string>;

  constructor(
    readonly req: IncomingMessage,
    readonly path: string,
    readonly rawQuery: string,
    readonly clientIp: string,
  ) {}

  get(name: string): string | undefined {
    switch (name) {
      case 'uri':
        return this.path;
      case 'host':
        return hostname(this.req.headers.host);
      case 'remote_addr':
        return this.clientIp;
      case 'request_method':
        return this.req.method;
      case 'scheme':
        return 'http';
      case 'server_port':
        return String(this.req.socket.localPort ?? '');
      case 'args':
      case 'query_string':
        return this.rawQuery;
    }
    if (name.startsWith('arg_')) {
      this.#query ??= new URLSearchParams(this.rawQuery);
      return this.#query.get(name.slice(4)) ?? undefined;
    }
    if (name.startsWith('http_')) {
      const value = this.req.headers[name.slice(5).replace(/_/g, '-').toLowerCase()];
      return Array.isArray(value) ? value.join(', ') : value;
    }
    if (name.startsWith('cookie_')) {
      this.#cookies ??= parseCookies(this.req.headers.cookie);
      return this.#cookies.get(name.slice(7));
    }
    return undefined;
  }
}

/** The host name without port, lower-cased. */
export function hostname(host: string | undefined): string {
  if (host === undefined) {
    return '';
  }
  const h = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0];
  return (h ?? '').toLowerCase();
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) {
      const name = part.slice(0, eq).trim();
      if (!out.has(name)) {
        out.set(name, part.slice(eq + 1).trim());
      }
    }
  }
  return out;
}
