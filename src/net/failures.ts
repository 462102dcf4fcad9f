// When a request fails, or its handler does. A request no handler answers
// (a head porta refuses, a body over its limit, a timeout) gets the errors
// table's status and page, with Connection: close, logged as every answer is:
// the connection decides when (#answerFailure), this writes it. A handler
// that throws is a fault in that exchange alone: logged, and a 500 when the
// answer has not begun.

import { ERROR_STATUS } from '../http/errors';
import type { Dispatch } from '../http/exchange';
import type { Request } from '../http/request';
import { closingErrorResponse, type ResponseVersion } from '../http/response';
import type { ConnectionExchange } from './exchange';
import type { Failure } from './reader';
import type { ConnectionReport } from './report';
import type { ConnectionSocket } from './socket';

/** Logs `failure`, writes its answer, and returns why the connection closes after it. */
export function writeErrorAnswer(
  socket: ConnectionSocket,
  report: ConnectionReport,
  failure: Failure,
  request: Request | null,
  version: ResponseVersion,
): string {
  const status = ERROR_STATUS[failure.error.name];
  report.error(request, `${status}: ${failure.error.detail}`);
  const response = closingErrorResponse(status, failure.error.detail, failure.extra, {
    headOnly: request?.method === 'HEAD',
    version,
  });
  report.responseBegins();
  socket.write(response.bytes);
  const why = `${status} closes the connection (RFC 9112 §9.6)`;
  report.answered(request, status, response.bodyBytes, why);
  return why;
}

/** Give `exchange` to its handler: a throw stays in that exchange, answered 500 or cut short (sendError). */
export function runHandler(dispatch: Dispatch, exchange: ConnectionExchange): void {
  try {
    dispatch(exchange);
  } catch (err) {
    exchange.logError(`internal error: handler threw: ${(err as Error).stack ?? String(err)}`);
    exchange.sendError(500, 'internal error');
  }
}
