/* IMPORTANT
 * This snapshot file is auto-generated, but designed for humans.
 * It should be checked into source control and tracked carefully.
 * Re-generate by setting TAP_SNAPSHOT=1 and running tests.
 * Make sure to inspect the output below.  Do not ignore changes!
 */
'use strict'
exports[`build/test/trace/trace.test.js > TAP > native: a 304 > events 1`] = `
Array [
  "1 accept: accepted from 127.0.0.1 port P on port P (fd N)",
  "1 read: read 55 bytes \\"GET /hello.txt HTTP/1.1\\\\r\\\\nHost: x\\\\r\\\\nConnection: close\\\\r\\\\n\\\\r\\\\n\\"",
  "1 llhttp: llhttp message_begin",
  "1 llhttp: llhttp headers_complete \\"GET /hello.txt HTTP/1.1, 2 fields\\"",
  "1 llhttp: llhttp message_complete",
  "1 state: state idle → readingHead (llhttp: a request began)",
  "1 state: state readingHead → responding (the head is dispatched, the request is whole)",
  "1 dispatch: static: /hello.txt is hello.txt (13 bytes, ETag E, Last-Modified L) → 200, the whole file; the body read whole, then kept in memory",
  "1 write: write 286 bytes, a response head: \\"HTTP/1.1 200 OK\\\\r\\\\nDate: D\\\\r\\\\nServer: porta/0.1.0\\\\r\\\\nContent-Type: text/plain; charset=utf-8\\\\r\\\\nLast-Modified: L\\\\r\\\\nETag: E\\\\r\\\\nAccept-Ranges: bytes\\\\r\\\\nCache-Control: no-cache\\\\r\\\\nContent-Length: 13\\\\r\\\\nConnection: close\\\\r\\\\n\\\\r\\\\n\\"",
  "1 answer: answered 200, 13 body bytes; then close: the client asked to close (Connection: close, or HTTP/1.0 without keep-alive)",
  "1 state: state responding → closing (the client asked to close (Connection: close, or HTTP/1.0 without keep-alive); FIN after the last byte, then wait for the peer's)",
  "1 state: state closing → closed (the socket closed)",
  "1 close: connection closed: the socket closed",
  "2 accept: accepted from 127.0.0.1 port P on port P (fd N)",
  "2 read: read 87 bytes \\"GET /hello.txt HTTP/1.1\\\\r\\\\nHost: x\\\\r\\\\nIf-None-Match: E\\\\r\\\\nConnection: close\\\\r\\\\n\\\\r\\\\n\\"",
  "2 llhttp: llhttp message_begin",
  "2 llhttp: llhttp headers_complete \\"GET /hello.txt HTTP/1.1, 3 fields\\"",
  "2 llhttp: llhttp message_complete",
  "2 state: state idle → readingHead (llhttp: a request began)",
  "2 state: state readingHead → responding (the head is dispatched, the request is whole)",
  "2 dispatch: static: /hello.txt is hello.txt (13 bytes, ETag E, Last-Modified L) → 304, not modified: If-None-Match names the current ETag",
  "2 write: write 200 bytes, a response head: \\"HTTP/1.1 304 Not Modified\\\\r\\\\nDate: D\\\\r\\\\nServer: porta/0.1.0\\\\r\\\\nLast-Modified: L\\\\r\\\\nETag: E\\\\r\\\\nCache-Control: no-cache\\\\r\\\\nConnection: close\\\\r\\\\n\\\\r\\\\n\\"",
  "2 answer: answered 304, 0 body bytes; then close: the client asked to close (Connection: close, or HTTP/1.0 without keep-alive)",
  "2 state: state responding → closing (the client asked to close (Connection: close, or HTTP/1.0 without keep-alive); FIN after the last byte, then wait for the peer's)",
  "2 state: state closing → closed (the socket closed)",
  "2 close: connection closed: the socket closed",
]
`

exports[`build/test/trace/trace.test.js > TAP > native: a CGI POST, pipe mode > events 1`] = `
Array [
  "1 accept: accepted from 127.0.0.1 port P on port P (fd N)",
  "1 read: read 112 bytes \\"POST /cgi-bin/echo.sh HTTP/1.1\\\\r\\\\nHost: x\\\\r\\\\nContent-Type: text/plain\\\\r\\\\nContent-Length: 5\\\\r\\\\nConnection: close\\\\r\\\\n\\\\r\\\\nhello\\"",
  "1 llhttp: llhttp message_begin",
  "1 llhttp: llhttp headers_complete \\"POST /cgi-bin/echo.sh HTTP/1.1, 4 fields\\"",
  "1 llhttp: llhttp body (5 bytes)",
  "1 llhttp: llhttp message_complete",
  "1 state: state idle → readingHead (llhttp: a request began)",
  "1 state: state readingHead → responding (the head is dispatched, the request is whole)",
  "1 dispatch: CGI: /cgi-bin/echo.sh runs as SITE/cgi-bin/echo.sh; mode pipe (porta parses its header block)",
  "1 spawn: spawned pid N in T ms: fd 1 is a pipe to porta",
  "1 write: write 153 bytes, a response head: \\"HTTP/1.1 200 OK\\\\r\\\\nDate: D\\\\r\\\\nServer: porta/0.1.0\\\\r\\\\nContent-Type: text/plain\\\\r\\\\nTransfer-Encoding: chunked\\\\r\\\\nConnection: close\\\\r\\\\n\\\\r\\\\n\\"",
  "1 exit: pid N exited with status 0 after T ms",
  "1 answer: answered 200, 5 body bytes; then close: the client asked to close (Connection: close, or HTTP/1.0 without keep-alive)",
  "1 state: state responding → closing (the client asked to close (Connection: close, or HTTP/1.0 without keep-alive); FIN after the last byte, then wait for the peer's)",
  "1 state: state closing → closed (the socket closed)",
  "1 close: connection closed: the socket closed",
]
`

exports[`build/test/trace/trace.test.js > TAP > native: a CGI POST, socket mode > events 1`] = `
Array [
  "1 accept: accepted from 127.0.0.1 port P on port P (fd N)",
  "1 read: read 93 bytes \\"POST /cgi-bin/echo.sh HTTP/1.1\\\\r\\\\nHost: x\\\\r\\\\nContent-Type: text/plain\\\\r\\\\nContent-Length: 5\\\\r\\\\n\\\\r\\\\nhello\\"",
  "1 llhttp: llhttp message_begin",
  "1 llhttp: llhttp headers_complete \\"POST /cgi-bin/echo.sh HTTP/1.1, 3 fields\\"",
  "1 llhttp: llhttp body (5 bytes)",
  "1 llhttp: llhttp message_complete",
  "1 state: state idle → readingHead (llhttp: a request began)",
  "1 state: state readingHead → responding (the head is dispatched, the request is whole)",
  "1 dispatch: CGI: /cgi-bin/echo.sh runs as SITE/cgi-bin/echo.sh; mode socket (its stdout will be the client socket)",
  "1 state: state responding → handedOff (the socket is lent to a program as its stdout)",
  "1 write: write 94 bytes, a response head: \\"HTTP/1.1 200 OK\\\\r\\\\nDate: D\\\\r\\\\nServer: porta/0.1.0\\\\r\\\\nConnection: close\\\\r\\\\n\\"",
  "1 spawn: spawned pid N in T ms: fd 1 IS the client socket (fd N in porta, dup'd by the launcher, fd 1 in the child)",
  "1 exit: pid N exited with status 0 after T ms",
  "1 answer: answered 200, the body written by the program itself; then close: the program's output ends with the connection (the socket is its stdout)",
  "1 state: state handedOff → closing (the program's output ends with the connection (the socket is its stdout); FIN after the last byte, then wait for the peer's)",
  "1 state: state closing → closed (the socket closed)",
  "1 close: connection closed: the socket closed",
]
`

exports[`build/test/trace/trace.test.js > TAP > native: a client that resets mid-answer > events 1`] = `
Array [
  "1 accept: accepted from 127.0.0.1 port P on port P (fd N)",
  "1 read: read 34 bytes \\"GET /big.bin HTTP/1.1\\\\r\\\\nHost: x\\\\r\\\\n\\\\r\\\\n\\"",
  "1 llhttp: llhttp message_begin",
  "1 llhttp: llhttp headers_complete \\"GET /big.bin HTTP/1.1, 1 fields\\"",
  "1 llhttp: llhttp message_complete",
  "1 state: state idle → readingHead (llhttp: a request began)",
  "1 state: state readingHead → responding (the head is dispatched, the request is whole)",
  "1 dispatch: static: /big.bin is big.bin (8388608 bytes, ETag E, Last-Modified L) → 200, the whole file; the body by sendfile(2), from the page cache straight to the socket",
  "1 write: write 263 bytes, a response head: \\"HTTP/1.1 200 OK\\\\r\\\\nDate: D\\\\r\\\\nServer: porta/0.1.0\\\\r\\\\nContent-Type: application/octet-stream\\\\r\\\\nLast-Modified: L\\\\r\\\\nETag: E\\\\r\\\\nAccept-Ranges: bytes\\\\r\\\\nCache-Control: no-cache\\\\r\\\\nContent-Length: 8388608\\\\r\\\\n\\\\r\\\\n\\"",
  "1 write: sendfile wrote N body bytes",
  "1 answer: answered 200, N body bytes; then close: cut short: the client left (ECONNRESET) after N of 8388608 bytes",
  "1 state: state responding → closed (the answer was cut short (the client left (ECONNRESET) after N of 8388608 bytes))",
  "1 close: connection closed: the answer was cut short (the client left (ECONNRESET) after N of 8388608 bytes)",
]
`

exports[`build/test/trace/trace.test.js > TAP > native: a parse error > events 1`] = `
Array [
  "1 accept: accepted from 127.0.0.1 port P on port P (fd N)",
  "1 read: read 51 bytes \\"GET /hello.txt HTTP/1.1\\\\r\\\\nHost: x\\\\r\\\\nBad Header: 1\\\\r\\\\n\\\\r\\\\n\\"",
  "1 llhttp: llhttp message_begin",
  "1 llhttp: llhttp error HPE_INVALID_HEADER_TOKEN at offset 37: Invalid header token",
  "1 write: write 388 bytes, a response head: \\"HTTP/1.1 400 Bad Request\\\\r\\\\nDate: D\\\\r\\\\nServer: porta/0.1.0\\\\r\\\\nContent-Type: text/html; charset=utf-8\\\\r\\\\nContent-Length: 222\\\\r\\\\nConnection: close\\\\r\\\\n\\\\r\\\\n\\"",
  "1 answer: answered 400, 222 body bytes; then close: 400 closes the connection (RFC 9112 §9.6)",
  "1 state: state idle → closing (400 closes the connection (RFC 9112 §9.6); FIN after the last byte, then wait for the peer's)",
  "1 state: state closing → closed (the socket closed)",
  "1 close: connection closed: the socket closed",
]
`

exports[`build/test/trace/trace.test.js > TAP > native: a pipelined pair > events 1`] = `
Array [
  "1 accept: accepted from 127.0.0.1 port P on port P (fd N)",
  "1 read: read 92 bytes \\"GET /hello.txt HTTP/1.1\\\\r\\\\nHost: x\\\\r\\\\n\\\\r\\\\nHEAD /hello.txt HTTP/1.1\\\\r\\\\nHost: x\\\\r\\\\nConnection: close\\\\r\\\\n\\\\r\\\\n\\"",
  "1 llhttp: llhttp message_begin",
  "1 llhttp: llhttp headers_complete \\"GET /hello.txt HTTP/1.1, 1 fields\\"",
  "1 llhttp: llhttp message_complete",
  "1 state: state idle → readingHead (llhttp: a request began)",
  "1 state: state readingHead → responding (the head is dispatched, the request is whole)",
  "1 dispatch: static: /hello.txt is hello.txt (13 bytes, ETag E, Last-Modified L) → 200, the whole file; the body read whole, then kept in memory",
  "1 write: write 267 bytes, a response head: \\"HTTP/1.1 200 OK\\\\r\\\\nDate: D\\\\r\\\\nServer: porta/0.1.0\\\\r\\\\nContent-Type: text/plain; charset=utf-8\\\\r\\\\nLast-Modified: L\\\\r\\\\nETag: E\\\\r\\\\nAccept-Ranges: bytes\\\\r\\\\nCache-Control: no-cache\\\\r\\\\nContent-Length: 13\\\\r\\\\n\\\\r\\\\n\\"",
  "1 answer: answered 200, 13 body bytes; keep-alive",
  "1 state: state responding → idle (answered: keep-alive, the next request)",
  "1 llhttp: llhttp message_begin",
  "1 llhttp: llhttp headers_complete \\"HEAD /hello.txt HTTP/1.1, 2 fields\\"",
  "1 llhttp: llhttp message_complete",
  "1 state: state idle → readingHead (llhttp: a request began)",
  "1 state: state readingHead → responding (the head is dispatched, the request is whole)",
  "1 dispatch: static: /hello.txt is hello.txt (13 bytes, ETag E, Last-Modified L) → 200, the whole file; no body to send (HEAD, or an empty file)",
  "1 write: write 273 bytes, a response head: \\"HTTP/1.1 200 OK\\\\r\\\\nDate: D\\\\r\\\\nServer: porta/0.1.0\\\\r\\\\nContent-Type: text/plain; charset=utf-8\\\\r\\\\nLast-Modified: L\\\\r\\\\nETag: E\\\\r\\\\nAccept-Ranges: bytes\\\\r\\\\nCache-Control: no-cache\\\\r\\\\nContent-Length: 13\\\\r\\\\nConnection: close\\\\r\\\\n\\\\r\\\\n\\"",
  "1 answer: answered 200, 0 body bytes; then close: the client asked to close (Connection: close, or HTTP/1.0 without keep-alive)",
  "1 state: state responding → closing (the client asked to close (Connection: close, or HTTP/1.0 without keep-alive); FIN after the last byte, then wait for the peer's)",
  "1 state: state closing → closed (the socket closed)",
  "1 close: connection closed: the socket closed",
]
`

exports[`build/test/trace/trace.test.js > TAP > native: a static GET > events 1`] = `
Array [
  "1 accept: accepted from 127.0.0.1 port P on port P (fd N)",
  "1 read: read 55 bytes \\"GET /hello.txt HTTP/1.1\\\\r\\\\nHost: x\\\\r\\\\nConnection: close\\\\r\\\\n\\\\r\\\\n\\"",
  "1 llhttp: llhttp message_begin",
  "1 llhttp: llhttp headers_complete \\"GET /hello.txt HTTP/1.1, 2 fields\\"",
  "1 llhttp: llhttp message_complete",
  "1 state: state idle → readingHead (llhttp: a request began)",
  "1 state: state readingHead → responding (the head is dispatched, the request is whole)",
  "1 dispatch: static: /hello.txt is hello.txt (13 bytes, ETag E, Last-Modified L) → 200, the whole file; the body read whole, then kept in memory",
  "1 write: write 286 bytes, a response head: \\"HTTP/1.1 200 OK\\\\r\\\\nDate: D\\\\r\\\\nServer: porta/0.1.0\\\\r\\\\nContent-Type: text/plain; charset=utf-8\\\\r\\\\nLast-Modified: L\\\\r\\\\nETag: E\\\\r\\\\nAccept-Ranges: bytes\\\\r\\\\nCache-Control: no-cache\\\\r\\\\nContent-Length: 13\\\\r\\\\nConnection: close\\\\r\\\\n\\\\r\\\\n\\"",
  "1 answer: answered 200, 13 body bytes; then close: the client asked to close (Connection: close, or HTTP/1.0 without keep-alive)",
  "1 state: state responding → closing (the client asked to close (Connection: close, or HTTP/1.0 without keep-alive); FIN after the last byte, then wait for the peer's)",
  "1 state: state closing → closed (the socket closed)",
  "1 close: connection closed: the socket closed",
]
`

exports[`build/test/trace/trace.test.js > TAP > native: an nph- script > events 1`] = `
Array [
  "1 accept: accepted from 127.0.0.1 port P on port P (fd N)",
  "1 read: read 44 bytes \\"GET /cgi-bin/nph-hi.sh HTTP/1.1\\\\r\\\\nHost: x\\\\r\\\\n\\\\r\\\\n\\"",
  "1 llhttp: llhttp message_begin",
  "1 llhttp: llhttp headers_complete \\"GET /cgi-bin/nph-hi.sh HTTP/1.1, 1 fields\\"",
  "1 llhttp: llhttp message_complete",
  "1 state: state idle → readingHead (llhttp: a request began)",
  "1 state: state readingHead → responding (the head is dispatched, the request is whole)",
  "1 dispatch: CGI: /cgi-bin/nph-hi.sh runs as SITE/cgi-bin/nph-hi.sh; mode nph (its stdout will be the client socket)",
  "1 write: write 0 bytes: its callback says all queued before is on the wire (then a program may write)",
  "1 state: state responding → handedOff (the socket is lent to a program as its stdout)",
  "1 spawn: spawned pid N in T ms: fd 1 IS the client socket (fd N in porta, dup'd by the launcher, fd 1 in the child)",
  "1 exit: pid N exited with status 0 after T ms",
  "1 answer: answered by the program itself (nph-: its own status line, which porta does not read); then close: the program's output ends with the connection (the socket is its stdout)",
  "1 state: state handedOff → closing (the program's output ends with the connection (the socket is its stdout); FIN after the last byte, then wait for the peer's)",
  "1 state: state closing → closed (the socket closed)",
  "1 close: connection closed: the socket closed",
]
`

exports[`build/test/trace/trace.test.js > TAP > wasm: a 304 > events 1`] = `
Array [
  "1 accept: accepted from 127.0.0.1 port P on port P (fd N)",
  "1 read: read 55 bytes \\"GET /hello.txt HTTP/1.1\\\\r\\\\nHost: x\\\\r\\\\nConnection: close\\\\r\\\\n\\\\r\\\\n\\"",
  "1 llhttp: llhttp message_begin at 0",
  "1 llhttp: llhttp url [4, 14) \\"/hello.txt\\"",
  "1 llhttp: llhttp header_field [25, 29) \\"Host\\"",
  "1 llhttp: llhttp header_value [31, 32) \\"x\\"",
  "1 llhttp: llhttp header_field [34, 44) \\"Connection\\"",
  "1 llhttp: llhttp header_value [46, 51) \\"close\\"",
  "1 llhttp: llhttp headers_complete at 55 \\"GET /hello.txt HTTP/1.1, keep-alive false\\"",
  "1 llhttp: llhttp message_complete at 55",
  "1 state: state idle → readingHead (llhttp: a request began)",
  "1 state: state readingHead → responding (the head is dispatched, the request is whole)",
  "1 dispatch: static: /hello.txt is hello.txt (13 bytes, ETag E, Last-Modified L) → 200, the whole file; the body read whole, then kept in memory",
  "1 write: write 286 bytes, a response head: \\"HTTP/1.1 200 OK\\\\r\\\\nDate: D\\\\r\\\\nServer: porta/0.1.0\\\\r\\\\nContent-Type: text/plain; charset=utf-8\\\\r\\\\nLast-Modified: L\\\\r\\\\nETag: E\\\\r\\\\nAccept-Ranges: bytes\\\\r\\\\nCache-Control: no-cache\\\\r\\\\nContent-Length: 13\\\\r\\\\nConnection: close\\\\r\\\\n\\\\r\\\\n\\"",
  "1 answer: answered 200, 13 body bytes; then close: the client asked to close (Connection: close, or HTTP/1.0 without keep-alive)",
  "1 state: state responding → closing (the client asked to close (Connection: close, or HTTP/1.0 without keep-alive); FIN after the last byte, then wait for the peer's)",
  "1 state: state closing → closed (the socket closed)",
  "1 close: connection closed: the socket closed",
  "2 accept: accepted from 127.0.0.1 port P on port P (fd N)",
  "2 read: read 87 bytes \\"GET /hello.txt HTTP/1.1\\\\r\\\\nHost: x\\\\r\\\\nIf-None-Match: E\\\\r\\\\nConnection: close\\\\r\\\\n\\\\r\\\\n\\"",
  "2 llhttp: llhttp message_begin at 0",
  "2 llhttp: llhttp url [4, 14) \\"/hello.txt\\"",
  "2 llhttp: llhttp header_field [25, 29) \\"Host\\"",
  "2 llhttp: llhttp header_value [31, 32) \\"x\\"",
  "2 llhttp: llhttp header_field [34, 47) \\"If-None-Match\\"",
  "2 llhttp: llhttp header_value [49, 64) \\"E\\"",
  "2 llhttp: llhttp header_field [66, 76) \\"Connection\\"",
  "2 llhttp: llhttp header_value [78, 83) \\"close\\"",
  "2 llhttp: llhttp headers_complete at 87 \\"GET /hello.txt HTTP/1.1, keep-alive false\\"",
  "2 llhttp: llhttp message_complete at 87",
  "2 state: state idle → readingHead (llhttp: a request began)",
  "2 state: state readingHead → responding (the head is dispatched, the request is whole)",
  "2 dispatch: static: /hello.txt is hello.txt (13 bytes, ETag E, Last-Modified L) → 304, not modified: If-None-Match names the current ETag",
  "2 write: write 200 bytes, a response head: \\"HTTP/1.1 304 Not Modified\\\\r\\\\nDate: D\\\\r\\\\nServer: porta/0.1.0\\\\r\\\\nLast-Modified: L\\\\r\\\\nETag: E\\\\r\\\\nCache-Control: no-cache\\\\r\\\\nConnection: close\\\\r\\\\n\\\\r\\\\n\\"",
  "2 answer: answered 304, 0 body bytes; then close: the client asked to close (Connection: close, or HTTP/1.0 without keep-alive)",
  "2 state: state responding → closing (the client asked to close (Connection: close, or HTTP/1.0 without keep-alive); FIN after the last byte, then wait for the peer's)",
  "2 state: state closing → closed (the socket closed)",
  "2 close: connection closed: the socket closed",
]
`

exports[`build/test/trace/trace.test.js > TAP > wasm: a CGI POST, pipe mode > events 1`] = `
Array [
  "1 accept: accepted from 127.0.0.1 port P on port P (fd N)",
  "1 read: read 112 bytes \\"POST /cgi-bin/echo.sh HTTP/1.1\\\\r\\\\nHost: x\\\\r\\\\nContent-Type: text/plain\\\\r\\\\nContent-Length: 5\\\\r\\\\nConnection: close\\\\r\\\\n\\\\r\\\\nhello\\"",
  "1 llhttp: llhttp message_begin at 0",
  "1 llhttp: llhttp url [5, 21) \\"/cgi-bin/echo.sh\\"",
  "1 llhttp: llhttp header_field [32, 36) \\"Host\\"",
  "1 llhttp: llhttp header_value [38, 39) \\"x\\"",
  "1 llhttp: llhttp header_field [41, 53) \\"Content-Type\\"",
  "1 llhttp: llhttp header_value [55, 65) \\"text/plain\\"",
  "1 llhttp: llhttp header_field [67, 81) \\"Content-Length\\"",
  "1 llhttp: llhttp header_value [83, 84) \\"5\\"",
  "1 llhttp: llhttp header_field [86, 96) \\"Connection\\"",
  "1 llhttp: llhttp header_value [98, 103) \\"close\\"",
  "1 llhttp: llhttp headers_complete at 107 \\"POST /cgi-bin/echo.sh HTTP/1.1, keep-alive false\\"",
  "1 llhttp: llhttp body [107, 112)",
  "1 llhttp: llhttp message_complete at 112",
  "1 state: state idle → readingHead (llhttp: a request began)",
  "1 state: state readingHead → responding (the head is dispatched, the request is whole)",
  "1 dispatch: CGI: /cgi-bin/echo.sh runs as SITE/cgi-bin/echo.sh; mode pipe (porta parses its header block)",
  "1 spawn: spawned pid N in T ms: fd 1 is a pipe to porta",
  "1 write: write 153 bytes, a response head: \\"HTTP/1.1 200 OK\\\\r\\\\nDate: D\\\\r\\\\nServer: porta/0.1.0\\\\r\\\\nContent-Type: text/plain\\\\r\\\\nTransfer-Encoding: chunked\\\\r\\\\nConnection: close\\\\r\\\\n\\\\r\\\\n\\"",
  "1 exit: pid N exited with status 0 after T ms",
  "1 answer: answered 200, 5 body bytes; then close: the client asked to close (Connection: close, or HTTP/1.0 without keep-alive)",
  "1 state: state responding → closing (the client asked to close (Connection: close, or HTTP/1.0 without keep-alive); FIN after the last byte, then wait for the peer's)",
  "1 state: state closing → closed (the socket closed)",
  "1 close: connection closed: the socket closed",
]
`

exports[`build/test/trace/trace.test.js > TAP > wasm: a CGI POST, socket mode > events 1`] = `
Array [
  "1 accept: accepted from 127.0.0.1 port P on port P (fd N)",
  "1 read: read 93 bytes \\"POST /cgi-bin/echo.sh HTTP/1.1\\\\r\\\\nHost: x\\\\r\\\\nContent-Type: text/plain\\\\r\\\\nContent-Length: 5\\\\r\\\\n\\\\r\\\\nhello\\"",
  "1 llhttp: llhttp message_begin at 0",
  "1 llhttp: llhttp url [5, 21) \\"/cgi-bin/echo.sh\\"",
  "1 llhttp: llhttp header_field [32, 36) \\"Host\\"",
  "1 llhttp: llhttp header_value [38, 39) \\"x\\"",
  "1 llhttp: llhttp header_field [41, 53) \\"Content-Type\\"",
  "1 llhttp: llhttp header_value [55, 65) \\"text/plain\\"",
  "1 llhttp: llhttp header_field [67, 81) \\"Content-Length\\"",
  "1 llhttp: llhttp header_value [83, 84) \\"5\\"",
  "1 llhttp: llhttp headers_complete at 88 \\"POST /cgi-bin/echo.sh HTTP/1.1, keep-alive true\\"",
  "1 llhttp: llhttp body [88, 93)",
  "1 llhttp: llhttp message_complete at 93",
  "1 state: state idle → readingHead (llhttp: a request began)",
  "1 state: state readingHead → responding (the head is dispatched, the request is whole)",
  "1 dispatch: CGI: /cgi-bin/echo.sh runs as SITE/cgi-bin/echo.sh; mode socket (its stdout will be the client socket)",
  "1 state: state responding → handedOff (the socket is lent to a program as its stdout)",
  "1 write: write 94 bytes, a response head: \\"HTTP/1.1 200 OK\\\\r\\\\nDate: D\\\\r\\\\nServer: porta/0.1.0\\\\r\\\\nConnection: close\\\\r\\\\n\\"",
  "1 spawn: spawned pid N in T ms: fd 1 IS the client socket (fd N in porta, dup'd by the launcher, fd 1 in the child)",
  "1 exit: pid N exited with status 0 after T ms",
  "1 answer: answered 200, the body written by the program itself; then close: the program's output ends with the connection (the socket is its stdout)",
  "1 state: state handedOff → closing (the program's output ends with the connection (the socket is its stdout); FIN after the last byte, then wait for the peer's)",
  "1 state: state closing → closed (the socket closed)",
  "1 close: connection closed: the socket closed",
]
`

exports[`build/test/trace/trace.test.js > TAP > wasm: a client that resets mid-answer > events 1`] = `
Array [
  "1 accept: accepted from 127.0.0.1 port P on port P (fd N)",
  "1 read: read 34 bytes \\"GET /big.bin HTTP/1.1\\\\r\\\\nHost: x\\\\r\\\\n\\\\r\\\\n\\"",
  "1 llhttp: llhttp message_begin at 0",
  "1 llhttp: llhttp url [4, 12) \\"/big.bin\\"",
  "1 llhttp: llhttp header_field [23, 27) \\"Host\\"",
  "1 llhttp: llhttp header_value [29, 30) \\"x\\"",
  "1 llhttp: llhttp headers_complete at 34 \\"GET /big.bin HTTP/1.1, keep-alive true\\"",
  "1 llhttp: llhttp message_complete at 34",
  "1 state: state idle → readingHead (llhttp: a request began)",
  "1 state: state readingHead → responding (the head is dispatched, the request is whole)",
  "1 dispatch: static: /big.bin is big.bin (8388608 bytes, ETag E, Last-Modified L) → 200, the whole file; the body by sendfile(2), from the page cache straight to the socket",
  "1 write: write 263 bytes, a response head: \\"HTTP/1.1 200 OK\\\\r\\\\nDate: D\\\\r\\\\nServer: porta/0.1.0\\\\r\\\\nContent-Type: application/octet-stream\\\\r\\\\nLast-Modified: L\\\\r\\\\nETag: E\\\\r\\\\nAccept-Ranges: bytes\\\\r\\\\nCache-Control: no-cache\\\\r\\\\nContent-Length: 8388608\\\\r\\\\n\\\\r\\\\n\\"",
  "1 write: sendfile wrote N body bytes",
  "1 answer: answered 200, N body bytes; then close: cut short: the client left (ECONNRESET) after N of 8388608 bytes",
  "1 state: state responding → closed (the answer was cut short (the client left (ECONNRESET) after N of 8388608 bytes))",
  "1 close: connection closed: the answer was cut short (the client left (ECONNRESET) after N of 8388608 bytes)",
]
`

exports[`build/test/trace/trace.test.js > TAP > wasm: a parse error > events 1`] = `
Array [
  "1 accept: accepted from 127.0.0.1 port P on port P (fd N)",
  "1 read: read 51 bytes \\"GET /hello.txt HTTP/1.1\\\\r\\\\nHost: x\\\\r\\\\nBad Header: 1\\\\r\\\\n\\\\r\\\\n\\"",
  "1 llhttp: llhttp message_begin at 0",
  "1 llhttp: llhttp url [4, 14) \\"/hello.txt\\"",
  "1 llhttp: llhttp header_field [25, 29) \\"Host\\"",
  "1 llhttp: llhttp header_value [31, 32) \\"x\\"",
  "1 llhttp: llhttp error HPE_INVALID_HEADER_TOKEN at offset 37: Invalid header token",
  "1 write: write 388 bytes, a response head: \\"HTTP/1.1 400 Bad Request\\\\r\\\\nDate: D\\\\r\\\\nServer: porta/0.1.0\\\\r\\\\nContent-Type: text/html; charset=utf-8\\\\r\\\\nContent-Length: 222\\\\r\\\\nConnection: close\\\\r\\\\n\\\\r\\\\n\\"",
  "1 answer: answered 400, 222 body bytes; then close: 400 closes the connection (RFC 9112 §9.6)",
  "1 state: state idle → closing (400 closes the connection (RFC 9112 §9.6); FIN after the last byte, then wait for the peer's)",
  "1 state: state closing → closed (the socket closed)",
  "1 close: connection closed: the socket closed",
]
`

exports[`build/test/trace/trace.test.js > TAP > wasm: a pipelined pair > events 1`] = `
Array [
  "1 accept: accepted from 127.0.0.1 port P on port P (fd N)",
  "1 read: read 92 bytes \\"GET /hello.txt HTTP/1.1\\\\r\\\\nHost: x\\\\r\\\\n\\\\r\\\\nHEAD /hello.txt HTTP/1.1\\\\r\\\\nHost: x\\\\r\\\\nConnection: close\\\\r\\\\n\\\\r\\\\n\\"",
  "1 llhttp: llhttp message_begin at 0",
  "1 llhttp: llhttp url [4, 14) \\"/hello.txt\\"",
  "1 llhttp: llhttp header_field [25, 29) \\"Host\\"",
  "1 llhttp: llhttp header_value [31, 32) \\"x\\"",
  "1 llhttp: llhttp headers_complete at 36 \\"GET /hello.txt HTTP/1.1, keep-alive true\\"",
  "1 llhttp: llhttp message_complete at 36",
  "1 state: state idle → readingHead (llhttp: a request began)",
  "1 state: state readingHead → responding (the head is dispatched, the request is whole)",
  "1 dispatch: static: /hello.txt is hello.txt (13 bytes, ETag E, Last-Modified L) → 200, the whole file; the body read whole, then kept in memory",
  "1 write: write 267 bytes, a response head: \\"HTTP/1.1 200 OK\\\\r\\\\nDate: D\\\\r\\\\nServer: porta/0.1.0\\\\r\\\\nContent-Type: text/plain; charset=utf-8\\\\r\\\\nLast-Modified: L\\\\r\\\\nETag: E\\\\r\\\\nAccept-Ranges: bytes\\\\r\\\\nCache-Control: no-cache\\\\r\\\\nContent-Length: 13\\\\r\\\\n\\\\r\\\\n\\"",
  "1 answer: answered 200, 13 body bytes; keep-alive",
  "1 state: state responding → idle (answered: keep-alive, the next request)",
  "1 llhttp: llhttp message_begin at 36",
  "1 llhttp: llhttp url [41, 51) \\"/hello.txt\\"",
  "1 llhttp: llhttp header_field [62, 66) \\"Host\\"",
  "1 llhttp: llhttp header_value [68, 69) \\"x\\"",
  "1 llhttp: llhttp header_field [71, 81) \\"Connection\\"",
  "1 llhttp: llhttp header_value [83, 88) \\"close\\"",
  "1 llhttp: llhttp headers_complete at 92 \\"HEAD /hello.txt HTTP/1.1, keep-alive false\\"",
  "1 llhttp: llhttp message_complete at 92",
  "1 state: state idle → readingHead (llhttp: a request began)",
  "1 state: state readingHead → responding (the head is dispatched, the request is whole)",
  "1 dispatch: static: /hello.txt is hello.txt (13 bytes, ETag E, Last-Modified L) → 200, the whole file; no body to send (HEAD, or an empty file)",
  "1 write: write 273 bytes, a response head: \\"HTTP/1.1 200 OK\\\\r\\\\nDate: D\\\\r\\\\nServer: porta/0.1.0\\\\r\\\\nContent-Type: text/plain; charset=utf-8\\\\r\\\\nLast-Modified: L\\\\r\\\\nETag: E\\\\r\\\\nAccept-Ranges: bytes\\\\r\\\\nCache-Control: no-cache\\\\r\\\\nContent-Length: 13\\\\r\\\\nConnection: close\\\\r\\\\n\\\\r\\\\n\\"",
  "1 answer: answered 200, 0 body bytes; then close: the client asked to close (Connection: close, or HTTP/1.0 without keep-alive)",
  "1 state: state responding → closing (the client asked to close (Connection: close, or HTTP/1.0 without keep-alive); FIN after the last byte, then wait for the peer's)",
  "1 state: state closing → closed (the socket closed)",
  "1 close: connection closed: the socket closed",
]
`

exports[`build/test/trace/trace.test.js > TAP > wasm: a static GET > events 1`] = `
Array [
  "1 accept: accepted from 127.0.0.1 port P on port P (fd N)",
  "1 read: read 55 bytes \\"GET /hello.txt HTTP/1.1\\\\r\\\\nHost: x\\\\r\\\\nConnection: close\\\\r\\\\n\\\\r\\\\n\\"",
  "1 llhttp: llhttp message_begin at 0",
  "1 llhttp: llhttp url [4, 14) \\"/hello.txt\\"",
  "1 llhttp: llhttp header_field [25, 29) \\"Host\\"",
  "1 llhttp: llhttp header_value [31, 32) \\"x\\"",
  "1 llhttp: llhttp header_field [34, 44) \\"Connection\\"",
  "1 llhttp: llhttp header_value [46, 51) \\"close\\"",
  "1 llhttp: llhttp headers_complete at 55 \\"GET /hello.txt HTTP/1.1, keep-alive false\\"",
  "1 llhttp: llhttp message_complete at 55",
  "1 state: state idle → readingHead (llhttp: a request began)",
  "1 state: state readingHead → responding (the head is dispatched, the request is whole)",
  "1 dispatch: static: /hello.txt is hello.txt (13 bytes, ETag E, Last-Modified L) → 200, the whole file; the body read whole, then kept in memory",
  "1 write: write 286 bytes, a response head: \\"HTTP/1.1 200 OK\\\\r\\\\nDate: D\\\\r\\\\nServer: porta/0.1.0\\\\r\\\\nContent-Type: text/plain; charset=utf-8\\\\r\\\\nLast-Modified: L\\\\r\\\\nETag: E\\\\r\\\\nAccept-Ranges: bytes\\\\r\\\\nCache-Control: no-cache\\\\r\\\\nContent-Length: 13\\\\r\\\\nConnection: close\\\\r\\\\n\\\\r\\\\n\\"",
  "1 answer: answered 200, 13 body bytes; then close: the client asked to close (Connection: close, or HTTP/1.0 without keep-alive)",
  "1 state: state responding → closing (the client asked to close (Connection: close, or HTTP/1.0 without keep-alive); FIN after the last byte, then wait for the peer's)",
  "1 state: state closing → closed (the socket closed)",
  "1 close: connection closed: the socket closed",
]
`

exports[`build/test/trace/trace.test.js > TAP > wasm: an nph- script > events 1`] = `
Array [
  "1 accept: accepted from 127.0.0.1 port P on port P (fd N)",
  "1 read: read 44 bytes \\"GET /cgi-bin/nph-hi.sh HTTP/1.1\\\\r\\\\nHost: x\\\\r\\\\n\\\\r\\\\n\\"",
  "1 llhttp: llhttp message_begin at 0",
  "1 llhttp: llhttp url [4, 22) \\"/cgi-bin/nph-hi.sh\\"",
  "1 llhttp: llhttp header_field [33, 37) \\"Host\\"",
  "1 llhttp: llhttp header_value [39, 40) \\"x\\"",
  "1 llhttp: llhttp headers_complete at 44 \\"GET /cgi-bin/nph-hi.sh HTTP/1.1, keep-alive true\\"",
  "1 llhttp: llhttp message_complete at 44",
  "1 state: state idle → readingHead (llhttp: a request began)",
  "1 state: state readingHead → responding (the head is dispatched, the request is whole)",
  "1 dispatch: CGI: /cgi-bin/nph-hi.sh runs as SITE/cgi-bin/nph-hi.sh; mode nph (its stdout will be the client socket)",
  "1 write: write 0 bytes: its callback says all queued before is on the wire (then a program may write)",
  "1 state: state responding → handedOff (the socket is lent to a program as its stdout)",
  "1 spawn: spawned pid N in T ms: fd 1 IS the client socket (fd N in porta, dup'd by the launcher, fd 1 in the child)",
  "1 exit: pid N exited with status 0 after T ms",
  "1 answer: answered by the program itself (nph-: its own status line, which porta does not read); then close: the program's output ends with the connection (the socket is its stdout)",
  "1 state: state handedOff → closing (the program's output ends with the connection (the socket is its stdout); FIN after the last byte, then wait for the peer's)",
  "1 state: state closing → closed (the socket closed)",
  "1 close: connection closed: the socket closed",
]
`
