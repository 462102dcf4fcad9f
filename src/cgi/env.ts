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

const SOFTWARE = `${SERVER_NAME}/${SERVER_VERSION}`;

/** Request headers never copied as HTTP_* variables. */
const NOT_PASSED = new Set([
  'authorization', // §4.1.1: credentials stay with the server; scheme/user go to AUTH_TYPE/REMOTE_USER
  'proxy-authorization', // §4.1.18: credentials again (the proxy's), as Apache withholds them
  'transfer-encoding', // the program gets the body de-chunked, with CONTENT_LENGTH: the coding was porta's to undo
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

/**
 * Field name → its variable (or null: refused), remembered: clients send the
 * same few names over and over. Bounded, so that odd names cannot grow it.
 */
const metaNames = new Map<string, string | null>();

function cachedMetaName(field: string): string | null {
  let name = metaNames.get(field);
  if (name === undefined) {
    name = NOT_PASSED.has(field.toLowerCase()) ? null : metaName(field);
    if (metaNames.size >= 512) metaNames.clear();
    metaNames.set(field, name);
  }
  return name;
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

/** The allow-listed part of porta's own environment, read once per list (process.env is a slow C++ lookup). */
interface Passed {
  entries: string[];
  names: Set<string>;
}
const passedCache = new WeakMap<readonly string[], Passed>();

function passed(passEnv: readonly string[]): Passed {
  let cached = passedCache.get(passEnv);
  if (cached === undefined) {
    const names = new Set<string>();
    const entries: string[] = [];
    for (const name of passEnv) {
      const value = process.env[name];
      if (value === undefined || names.has(name)) continue;
      names.add(name);
      entries.push(`${name}=${value}`);
    }
    cached = { entries, names };
    passedCache.set(passEnv, cached);
  }
  return cached;
}

export function buildEnvironment(
  req: Request,
  script: ScriptInfo,
  bodyLength: number | null,
  passEnv: readonly string[],
  mode: string,
): string[] {
  // The meta-variables, in order; each name once.
  const vars: string[] = [];
  const set = (name: string, value: string): void => void vars.push(name, value);
  const authorization = req.header('authorization');
  if (authorization !== undefined) {
    const [scheme, credentials] = authorization.trim().split(/\s+/, 2);
    if (scheme !== undefined && scheme !== '') set('AUTH_TYPE', scheme);
    if (scheme?.toLowerCase() === 'basic' && credentials !== undefined) {
      const decoded = Buffer.from(credentials, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) set('REMOTE_USER', decoded.slice(0, colon));
    }
  }
  if (bodyLength !== null) set('CONTENT_LENGTH', String(bodyLength));
  const contentType = req.header('content-type');
  if (contentType !== undefined) set('CONTENT_TYPE', contentType);
  set('GATEWAY_INTERFACE', 'CGI/1.1');
  set('PATH_INFO', script.pathInfo);
  if (script.pathInfo !== '') set('PATH_TRANSLATED', script.documentRoot + script.pathInfo);
  set('QUERY_STRING', req.query ?? '');
  set('REMOTE_ADDR', req.client);
  set('REMOTE_HOST', req.client); // §4.1.9: no DNS lookup, the address stands in
  set('REMOTE_PORT', String(req.peer.remotePort));
  set('REQUEST_METHOD', req.method);
  set('REQUEST_URI', req.target);
  set('REQUEST_SCHEME', req.peer.secure ? 'https' : 'http');
  if (req.peer.secure) set('HTTPS', 'on'); // what Apache and most frameworks look for
  set('SCRIPT_NAME', script.scriptName);
  set('SCRIPT_FILENAME', script.scriptPath);
  set('DOCUMENT_ROOT', script.documentRoot);
  const authority = req.authority;
  set('SERVER_NAME', serverNameFrom(authority, req.peer.localAddress));
  set('SERVER_ADDR', req.peer.localAddress);
  set('SERVER_PORT', String(req.peer.localPort));
  set('SERVER_PROTOCOL', req.protocol);
  set('SERVER_SOFTWARE', SOFTWARE);
  // php-cgi refuses to run without it (its force-cgi-redirect guard).
  set('REDIRECT_STATUS', '200');
  // porta's own: socket (stdout is the client socket), pipe (porta parses the
  // header block) or nph, so a program (and the demo pages) can tell.
  set('PORTA_CGI_MODE', mode);

  // porta's allow-listed variables come first; a meta-variable of the same
  // name (--cgi-pass-env SERVER_NAME) takes its value.
  const pass = passed(passEnv);
  const env: string[] = [];
  const overridden = new Set<string>();
  for (let i = 0; i < vars.length; i += 2) {
    if (pass.names.has(vars[i] as string)) overridden.add(vars[i] as string);
  }
  for (const entry of pass.entries) {
    if (overridden.size === 0 || !overridden.has(entry.slice(0, entry.indexOf('=')))) env.push(entry);
  }
  for (let i = 0; i < vars.length; i += 2) env.push(`${vars[i]}=${vars[i + 1]}`);

  // Every other header as HTTP_*. With '_' refused, one variable can only
  // come from one field name (in any case, RFC 9110 §5.1): repeats are joined.
  // Nothing set above is replaced (only a passed variable can start with HTTP_).
  let headers: Map<string, string> | null = null;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = cachedMetaName(raw[i] as string);
    if (name === null || pass.names.has(name)) continue;
    const value = raw[i + 1] as string;
    headers ??= new Map();
    const seen = headers.get(name);
    // RFC 9110 §5.3; cookies: RFC 6265 §5.4.
    headers.set(name, seen === undefined ? value : seen + (name === 'HTTP_COOKIE' ? '; ' : ', ') + value);
  }
  // RFC 9112 §3.2.2: an absolute-form target names the host; Host is ignored.
  if (!req.target.startsWith('/') && authority !== undefined && !pass.names.has('HTTP_HOST')) {
    headers ??= new Map();
    headers.set('HTTP_HOST', authority);
  }
  if (headers !== null) for (const [name, value] of headers) env.push(`${name}=${value}`);
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
