#!/usr/bin/env python3
# Dumps the CGI environment (sorted) as plain text, and the request body length.
import os
import sys

lines = ['%s=%s' % (k, v) for k, v in sorted(os.environ.items())]
if os.environ.get('REQUEST_METHOD') in ('POST', 'PUT', 'PATCH'):
    try:
        length = int(os.environ.get('CONTENT_LENGTH') or 0)
    except ValueError:
        length = 0
    body = sys.stdin.buffer.read(length) if length > 0 else b''
    lines.append('')
    lines.append('stdin: %d bytes read (CONTENT_LENGTH=%s)'
                 % (len(body), os.environ.get('CONTENT_LENGTH', '')))
if sys.argv[1:]:
    lines.append('')
    lines.append('argv: %r' % (sys.argv[1:],))
out = 'Content-Type: text/plain; charset=utf-8\r\n\r\n' + '\n'.join(lines) + '\n'
sys.stdout.buffer.write(out.encode('utf-8', 'surrogateescape'))
