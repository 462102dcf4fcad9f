#!/bin/sh
# Non-parsed headers (RFC 3875 section 5): the script writes the whole
# response, status line included; porta adds nothing and closes afterwards.
printf 'HTTP/1.1 200 OK\r\n'
printf 'Content-Type: text/plain\r\n'
printf 'Connection: close\r\n'
printf '\r\n'
printf 'Hello from an nph script: these bytes went straight to the socket.\n'
