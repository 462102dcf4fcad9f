# porta: the two commands a fresh machine needs are `make run` and `make test`.
# Everything else hangs off them.

NODE    ?= node
PORT    ?= 8080
ROOT    ?= html
ARGS    ?=
SECONDS ?= 600
STAMP   := node_modules/.package-lock.json
ADDON   := native/build/Release/porta_spawn.node
# Build the addon against the installed headers when they are there (no download).
NODEDIR := $(if $(wildcard /usr/include/node/node_api.h),--nodedir=/usr,)

.PHONY: all install build native run run-pipe test test-deps lint format typecheck chaos fuzz bench bench-peers docs clean

all: build

install: $(STAMP)

$(STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $(STAMP)

build: install
	npx tsc -p tsconfig.json
	@chmod +x build/src/cli.js
	@$(MAKE) --no-print-directory native

# The spawn addon for CGI (native/), rebuilt only when its sources change.
# Optional: without it porta falls back to child_process.spawn and says so.
native: $(ADDON)

$(ADDON): $(wildcard native/*.c native/*.h) native/binding.gyp | $(STAMP)
	@npm run --silent native -- $(NODEDIR) >native/build.log 2>&1 \
	  && echo "native: spawn addon built" \
	  || echo "native: spawn addon NOT built (see native/build.log); CGI uses child_process.spawn"

typecheck: install
	npx tsc -p tsconfig.json --noEmit

# The connection's state diagram in docs/PROTOCOL.md, redrawn from the state
# table in src/net/states.ts (test/docs/ fails when the checked-in one differs),
# and the flow page's screenshot in docs/flow.png (from the Chromium test).
docs: build test-deps
	$(NODE) build/scripts/state-diagram.js --write
	PORTA_SCREENSHOT=1 npx tap build/test/ops/flow.test.js

# Formatting and lint rules in biome.jsonc; `make format` rewrites the tree.
lint: install
	npx biome check

format: install
	npx biome check --write

# make run PORT=8000 ROOT=site ARGS='--trace --cgi-stdout pipe'
run: build
	$(NODE) build/src/cli.js --root $(ROOT) --port $(PORT) $(ARGS)

# The demo with CGI in pipe mode: Status:, Location: and redirects work.
run-pipe: build
	$(NODE) build/src/cli.js --root $(ROOT) --port $(PORT) --cgi-stdout pipe $(ARGS)

test: build lint test-deps
	npx tap 'build/test/**/*.test.js'

# What the tests take from Debian (CI and new machines start bare): openssl
# makes the HTTPS tests' certificate, curl is their real client; haproxy and
# nginx are the load balancers in front of porta in test/ops/front.test.ts
# (deploy/haproxy.cfg, deploy/nginx.conf); chromium (/usr/bin/chromium) is the
# browser test/ops/flow.test.ts drives through playwright-core (an npm
# devDependency, hence `install`; playwright's own browsers are never fetched).
# Installed only when missing (haproxy and nginx live in /usr/sbin, which a
# PATH may lack); if that fails, those tests fail and say why. ss (iproute2)
# reads a listening socket's backlog for test/ops/cluster.test.ts. An entry
# is the program, then its Debian package after a colon when they differ.
TEST_PROGRAMS := openssl curl haproxy nginx chromium ss:iproute2
test-deps: install
	@missing=""; for entry in $(TEST_PROGRAMS); do \
	  p=$${entry%%:*}; package=$${entry#*:}; \
	  command -v $$p >/dev/null 2>&1 || [ -x /usr/sbin/$$p ] || [ -x /usr/bin/$$p ] || [ -x /sbin/$$p ] || [ -x /bin/$$p ] || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "test-deps: installing$$missing"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	    || echo "test-deps: could not install$$missing"; \
	fi

# The chaos run, long: random aborts beside byte-checking victims (test/chaos/).
# CHAOS_SEED=N replays a run's choices.
chaos: build
	$(NODE) build/test/chaos/chaos.js --seconds $(SECONDS)

# The fuzzers' long run (test/fuzz/, in process): COUNT mutated requests
# through both llhttp builds, then CGI_COUNT fake CGI programs. FUZZ_SEED=N
# replays a run; each failure prints the command that replays its input.
COUNT     ?= 1000000
CGI_COUNT ?= 100000

fuzz: build
	$(NODE) build/test/fuzz/requests.js --count $(COUNT)
	$(NODE) build/test/fuzz/cgi-output.js --count $(CGI_COUNT)

# The benchmark's peers from Debian: nginx + fcgiwrap, lighttpd, and wrk (a C
# client for W1-wrk/W2-wrk), installed
# only when missing. If that fails the bench still runs; their rows say skipped.
BENCH_PEERS := nginx fcgiwrap lighttpd wrk
bench-peers:
	@if command -v apt-get >/dev/null 2>&1; then \
	  missing=""; for p in $(BENCH_PEERS); do \
	    command -v $$p >/dev/null 2>&1 || [ -x /usr/sbin/$$p ] || missing="$$missing $$p"; \
	  done; \
	  if [ -n "$$missing" ]; then \
	    echo "bench-peers: installing$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || echo "bench-peers: could not install$$missing; they will be reported as skipped"; \
	  fi; \
	else echo "bench-peers: no apt-get here; nginx and lighttpd will be reported as skipped"; fi

bench: build bench-peers
	$(NODE) build/bench/run.js $(ARGS)

clean:
	rm -rf build native/build
