#!/usr/bin/env python3
# Benchmark script: Hello, <name>! from the query string.
import os
import sys
from urllib.parse import parse_qs

name = parse_qs(os.environ.get('QUERY_STRING', '')).get('name', ['world'])[0]
sys.stdout.buffer.write(b'Content-Type: text/plain; charset=utf-8\r\n\r\nHello, '
                        + name.encode('utf-8', 'replace') + b'!\n')
