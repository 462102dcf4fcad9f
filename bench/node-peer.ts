// The `node` peer: a plain node:http static file server doing porta's static
// work and no more: resolve the path under the root, stat, stream the file with
// Content-Length and Content-Type, 404 otherwise. No CGI, no caching.
//
//   node build/bench/node-peer.js --port P --root DIR [--host 127.0.0.1] [--keepalive-timeout S]
// Prints one line on stdout once listening.

import { createReadStream, stat } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import { resolve, sep } from 'node:path';
import { parseArgs } from 'node:util';
import { lookup } from 'mime-types';

function notFound(res: ServerResponse): void {
  res.writeHead(404, { 'Content-Type': 'text/plain', 'Content-Length': '10' });
  res.end('Not Found\n');
}

function main(): void {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      root: { type: 'string' },
      host: { type: 'string' },
      'keepalive-timeout': { type: 'string' },
    },
  });
  const root = resolve(values.root ?? '.');
  const port = Number(values.port ?? '8080');
  const host = values.host ?? '127.0.0.1';

  const server = createServer((req, res) => {
    let pathname: string;
    try {
      pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      res.writeHead(400, { 'Content-Length': '0' });
      res.end();
      return;
    }
    const file = resolve(root, '.' + pathname);
    if (file !== root && !file.startsWith(root + sep)) return notFound(res);
    stat(file, (err, st) => {
      if (err !== null || !st.isFile()) return notFound(res);
      res.writeHead(200, {
        'Content-Type': lookup(file) || 'application/octet-stream',
        'Content-Length': String(st.size),
      });
      if (req.method === 'HEAD') return void res.end();
      const stream = createReadStream(file);
      stream.on('error', () => res.destroy());
      stream.pipe(res);
    });
  });
  if (values['keepalive-timeout'] !== undefined) {
    const ms = Number(values['keepalive-timeout']) * 1000;
    server.keepAliveTimeout = ms;
    // A connection must not be cut before its keep-alive timeout is up.
    server.headersTimeout = ms + 1000;
    server.requestTimeout = 0;
  }
  server.listen(port, host, () => {
    process.stdout.write(`node-peer: directory ${root}, address ${host}, port ${port}\n`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
