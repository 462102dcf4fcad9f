// What porta says when it starts: which folder, on which addresses and port
// (with a URL a terminal makes clickable), who can reach it, and what the CGI
// mode means for a program's Status: and Location: lines.

import { resolve } from 'node:path';
import type { Settings } from '../config';
import { LOOPBACK } from '../config';
import { SERVER_VERSION } from '../version';
import type { Listening } from '../server';

export interface BannerFacts {
  settings: Settings;
  listening: Listening[];
  cgiUser: string;
  cgiLauncher: string;
  /** The llhttp build the workers run (the one asked for, or wasm when Node's is missing). */
  parser: string;
}

export function banner({ settings, listening, cgiUser, cgiLauncher, parser }: BannerFacts): string {
  const folder = resolve(settings.root);
  const addresses = listening.map((l) => l.address).join(' and ');
  const port = listening[0]?.port ?? settings.port;
  const urls = listening.map((l) => l.url).join('  ');
  const lines = [`porta ${SERVER_VERSION}: serving ${folder} on port ${port}, address ${addresses}`, `  ${urls}`];
  const loopbackOnly = listening.every((l) => LOOPBACK.includes(l.address));
  if (loopbackOnly) lines.push('  this machine only: -b 0.0.0.0 (or -b ::) serves the network');
  if (settings.tls !== null)
    lines.push('  HTTPS (TLS 1.2+); over TLS CGI programs answer through a pipe, and nph- scripts are refused');
  if (settings.protocol === '1.0') lines.push('  answering as HTTP/1.0: one request a connection (-p HTTP/1.0)');
  lines.push(`  ${cgiLine(settings, cgiUser)}`);
  lines.push(`  llhttp ${parser}, programs started via ${cgiLauncher}`);
  if (settings.flow) lines.push(`  the live flow page: ${listening[0]?.url ?? '/'}.porta/flow`);
  lines.push(`  ${processLine(settings)}`);
  return `${lines.join('\n')}\n`;
}

function processLine(settings: Settings): string {
  if (settings.workers === 0) {
    const user = settings.user === null ? '' : `, serving as ${settings.user}`;
    return `one process (--workers 0), pid ${process.pid}${user}; SIGTERM drains (grace ${settings.limits.graceMs / 1000} s), SIGUSR1 reopens logs`;
  }
  const workers = settings.workers === 1 ? '1 worker' : `${settings.workers} workers (${settings.balance})`;
  const user = settings.user === null ? '' : `, serving as ${settings.user}`;
  const sockets = settings.listenFds.length > 0 ? `, on ${settings.listenFds.length} inherited socket(s)` : '';
  return `${workers} under primary pid ${process.pid}${user}${sockets}; SIGTERM drains (grace ${settings.limits.graceMs / 1000} s), SIGHUP restarts, SIGUSR1 reopens logs`;
}

function cgiLine(settings: Settings, cgiUser: string): string {
  if (!settings.cgi) return 'CGI off (--no-cgi): files are only ever served, never run';
  const where = [...settings.cgiDirs, ...settings.cgiExtensions.map((e) => `*${e}`)].join(', ');
  const mode =
    settings.cgiStdout === 'socket' && settings.tls === null
      ? 'socket mode: a program writes straight to the client, so its Status: and Location: arrive as plain header lines (--cgi-stdout pipe to have them parsed)'
      : "pipe mode: porta parses each program's header block (Status:, Location:, X-Sendfile) and frames its body";
  return `CGI in ${where}, run as ${cgiUser}; ${mode}`;
}
