// The CGI environment (RFC 3875 §4.1), built in this one place. Nothing of
// the server's own environment reaches the program except the allow-list.

import type { Request } from '../http/request';
import { SERVER_NAME, SERVER_VERSION } from '../http/response';

export interface ScriptInfo {
  scriptName: string;
  scriptPath: string;
  pathInfo: string;
  documentRoot: string;
}

/** Request headers never copied as HTTP_* variables. */
const NOT_PASSED = new Set([
  'authorization', // §4.1.1: credentials stay with the server; scheme/user go to AUTH_TYPE/REMOTE_USER
  'proxy', // httpoxy: HTTP_PROXY would be taken for the proxy setting by many clients
  'content-length', // §4.1.2: CONTENT_LENGTH describes the body the program gets
  'content-type', // §4.1.3: CONTENT_TYPE
]);

/**
 * HTTP_ + the field name in upper case, '-' → '_' (§4.1.18); null for a name
 * with anything but letters, digits and '-'. An underscore never passes: else
 * `X_Forwarded_For` would arrive as HTTP_X_FORWARDED_FOR, indistinguishable
 * from the real header (nginx's underscores_in_headers off, Apache 2.4).
 */
function metaName(field: string): string | null {
  if (!/^[A-Za-z0-9-]+$/.test(field)) return null;
  return 'HTTP_' + field.toUpperCase().replace(/-/g, '_');
}

/** Host without its port, IPv6 brackets kept (§4.1.14). */
function serverNameFrom(host: string | undefined, fallback: string): string {
  if (host === undefined || host === '') return fallback;
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end < 0 ? host : host.slice(0, end + 1);
  }
  const colon = host.indexOf(':');
  return colon < 0 ? host : host.slice(0, colon);
}

export function buildEnvironment(
  req: Request,
  script: ScriptInfo,
  bodyLength: number | null,
  passEnv: readonly string[],
  mode: string,
): string[] {
  const vars = new Map<string, string>();
  for (const name of passEnv) {
    const value = process.env[name];
    if (value !== undefined) vars.set(name, value);
  }

  const authorization = req.header('authorization');
  if (authorization !== undefined) {
    const [scheme, credentials] = authorization.trim().split(/\s+/, 2);
    if (scheme !== undefined && scheme !== '') vars.set('AUTH_TYPE', scheme);
    if (scheme?.toLowerCase() === 'basic' && credentials !== undefined) {
      const decoded = Buffer.from(credentials, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) vars.set('REMOTE_USER', decoded.slice(0, colon));
    }
  }
  if (bodyLength !== null) vars.set('CONTENT_LENGTH', String(bodyLength));
  const contentType = req.header('content-type');
  if (contentType !== undefined) vars.set('CONTENT_TYPE', contentType);
  vars.set('GATEWAY_INTERFACE', 'CGI/1.1');
  vars.set('PATH_INFO', script.pathInfo);
  if (script.pathInfo !== '') vars.set('PATH_TRANSLATED', script.documentRoot + script.pathInfo);
  vars.set('QUERY_STRING', req.query ?? '');
  vars.set('REMOTE_ADDR', req.client);
  vars.set('REMOTE_HOST', req.client); // §4.1.9: no DNS lookup, the address stands in
  vars.set('REMOTE_PORT', String(req.peer.remotePort));
  vars.set('REQUEST_METHOD', req.method);
  vars.set('REQUEST_URI', req.target);
  vars.set('REQUEST_SCHEME', req.peer.secure ? 'https' : 'http');
  if (req.peer.secure) vars.set('HTTPS', 'on'); // what Apache and most frameworks look for
  vars.set('SCRIPT_NAME', script.scriptName);
  vars.set('SCRIPT_FILENAME', script.scriptPath);
  vars.set('DOCUMENT_ROOT', script.documentRoot);
  vars.set('SERVER_NAME', serverNameFrom(req.header('host'), req.peer.localAddress));
  vars.set('SERVER_ADDR', req.peer.localAddress);
  vars.set('SERVER_PORT', String(req.peer.localPort));
  vars.set('SERVER_PROTOCOL', req.protocol);
  vars.set('SERVER_SOFTWARE', `${SERVER_NAME}/${SERVER_VERSION}`);
  // php-cgi refuses to run without it (its force-cgi-redirect guard).
  vars.set('REDIRECT_STATUS', '200');
  // porta's own: socket (stdout is the client socket), pipe (porta parses the
  // header block) or nph, so a program (and the demo pages) can tell.
  vars.set('PORTA_CGI_MODE', mode);

  // Every other header as HTTP_*. With '_' refused, one variable can only
  // come from one field name (in any case, RFC 9110 §5.1): repeats are joined.
  const headers = new Map<string, string>();
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const field = raw[i] as string;
    const value = raw[i + 1] as string;
    const lower = field.toLowerCase();
    if (NOT_PASSED.has(lower)) continue;
    const name = metaName(field);
    if (name === null) continue;
    const seen = headers.get(name);
    // RFC 9110 §5.3; cookies: RFC 6265 §5.4.
    headers.set(name, seen === undefined ? value : seen + (lower === 'cookie' ? '; ' : ', ') + value);
  }
  for (const [name, value] of headers) {
    if (!vars.has(name)) vars.set(name, value);
  }

  const env: string[] = [];
  for (const [name, value] of vars) env.push(`${name}=${value}`);
  return env;
}

/**
 * RFC 3875 §4.4: a query with no unencoded '=' is an indexed search; its
 * '+'-separated, decoded words become the program's arguments.
 */
export function searchWords(query: string | null): string[] {
  if (query === null || query === '' || query.includes('=')) return [];
  const words: string[] = [];
  for (const part of query.split('+')) {
    try {
      const word = decodeURIComponent(part);
      if (word.includes('\0')) return [];
      words.push(word);
    } catch {
      return []; // §4.4: a malformed query gives no arguments
    }
  }
  return words.filter((w) => w !== '');
}
