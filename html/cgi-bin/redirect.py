#!/usr/bin/env python3
# Redirects (RFC 3875 section 6.2.2 and 6.2.3).
#   no query: a local redirect; the server answers with /sobre.html itself.
#   ?away:    a client redirect, 302 to another site.
import os
import sys
from urllib.parse import parse_qs

query = os.environ.get('QUERY_STRING', '')
away = 'away' in parse_qs(query, keep_blank_values=True) or query == 'away'
if away:
    sys.stdout.write('Status: 302 Found\r\n'
                     'Location: https://example.org/\r\n'
                     'Content-Type: text/plain; charset=utf-8\r\n'
                     '\r\n'
                     'Moved to https://example.org/\n')
else:
    sys.stdout.write('Location: /sobre.html\r\n\r\n')
