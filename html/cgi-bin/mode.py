#!/usr/bin/python3
# Which CGI mode porta runs in, for the demo pages' badge. porta tells every
# program in PORTA_CGI_MODE: socket (the client socket is this program's
# stdout), pipe (porta parses the header block) or nph.
import os
import sys

mode = os.environ.get('PORTA_CGI_MODE', 'unknown')
sys.stdout.write('Content-Type: text/plain; charset=utf-8\r\nCache-Control: no-store\r\n\r\n')
sys.stdout.write(mode + '\n')
