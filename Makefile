# porta: the two commands a fresh machine needs are `make run` and `make test`.
# Everything else hangs off them.

NODE    ?= node
PORT    ?= 8080
ROOT    ?= html
STAMP   := node_modules/.package-lock.json
# Build the addon against the installed headers when they are there (no download).
NODEDIR := $(if $(wildcard /usr/include/node/node_api.h),--nodedir=/usr,)

.PHONY: all install build native run test typecheck bench bench-peers clean

all: build

install: $(STAMP)

$(STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $(STAMP)

build: install
	npx tsc -p tsconfig.json
	@chmod +x build/src/cli.js
	@$(MAKE) --no-print-directory native

# The posix_spawn addon for CGI (native/). Optional: without it porta falls back
# to child_process.spawn and says so at start-up.
native: install
	@if [ -f native/binding.gyp ]; then \
	  npm run --silent native -- $(NODEDIR) >native/build.log 2>&1 \
	    && echo "native: spawn addon built" \
	    || echo "native: spawn addon NOT built (see native/build.log); CGI uses child_process.spawn"; \
	fi

typecheck: install
	npx tsc -p tsconfig.json --noEmit

run: build
	$(NODE) build/src/cli.js --root $(ROOT) --port $(PORT)

test: build
	npx tap 'build/test/**/*.test.js'

bench-peers:
	@if command -v apt-get >/dev/null 2>&1; then \
	  if ! command -v nginx >/dev/null 2>&1 || ! command -v fcgiwrap >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx fcgiwrap >/dev/null \
	      || echo "bench-peers: could not install nginx/fcgiwrap; they will be reported as skipped"; \
	  fi; \
	else echo "bench-peers: no apt-get here; nginx will be reported as skipped"; fi

bench: build bench-peers
	$(NODE) build/bench/run.js $(ARGS)

clean:
	rm -rf build native/build
