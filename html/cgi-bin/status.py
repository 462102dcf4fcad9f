#!/usr/bin/env python3
# A CGI Status header (RFC 3875 section 6.3.3).
import sys

sys.stdout.write("Status: 418 I'm a teapot\r\n"
                 "Content-Type: text/plain; charset=utf-8\r\n"
                 "\r\n"
                 "I'm a teapot. The status line came from the Status header.\n")
