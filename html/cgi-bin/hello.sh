#!/bin/sh
# Benchmark script: builtins only, no forks.
printf 'Content-Type: text/plain\r\n\r\nHello from sh\n'
