// A test handler beside the static files, so the request fuzzer also drives
// the body side of an exchange: POST /echo reads the body and answers it
// back with a Content-Length once it is whole; POST /echo?stream answers
// while it is still arriving (chunked on HTTP/1.1), so a body that goes wrong
// mid-way meets an answer already under way. Both pause the body after every
// chunk and resume it a tick later, as a handler with a full sink would.

import type { Exchange } from '../../src/http/exchange';

export const ECHO_PATH = '/echo';

export function echo(exchange: Exchange): void {
  const streaming = exchange.request.query === 'stream';
  const received: Buffer[] = [];
  const begin = (): void => {
    if (!exchange.headSent) exchange.sendHead(200, [['Content-Type', 'application/octet-stream']], { kind: 'stream' });
  };
  exchange.readBody({
    onData: (chunk) => {
      if (streaming) {
        begin();
        exchange.write(chunk);
      } else {
        received.push(chunk);
      }
      exchange.pauseBody();
      setImmediate(exchange.contain(() => exchange.resumeBody()));
    },
    onEnd: () => {
      if (streaming) {
        begin();
      } else {
        const body = Buffer.concat(received);
        exchange.sendHead(200, [['Content-Type', 'application/octet-stream']], { kind: 'length', length: body.length });
        exchange.write(body);
      }
      exchange.end();
    },
  });
}
