# postern — the two commands of the README, and the build behind them.
#   make         build build/postern
#   make run     set up an instance in ./var on 127.0.0.1:2525 and run it in the foreground
#   make test    unit and end-to-end tests, then again under ASan+UBSan
# Every target first installs missing Debian packages (apt-get), so a fresh
# Debian 12 machine needs nothing else.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 30
FUZZ_JOBS    ?= 1
INSTANCE   ?= var
RUN_BIND   ?= 127.0.0.1:2525
RUN_FQDN   ?= mail.example.test
PYTEST     ?= /usr/bin/python3 -m pytest

# Build and test dependencies: compiler and libraries, then the real peers
# the end-to-end tests talk to.
DEB_PACKAGES = gcc libc6-dev pkg-config meson ninja-build libssl-dev libevent-dev \
	libunbound-dev libcrypt-dev libcmocka-dev openssl ca-certificates python3 python3-pytest \
	swaks libnet-ssleay-perl postfix unbound dovecot-lmtpd clang-format \
	clang libclang-rt-dev testssl.sh libidn12

.PHONY: all deps build asan run test unit e2e test-asan clean format crashtest fuzz

all: build

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	fi
	@# The service drops to this user after binding its ports (PRODUCT.md).
	@if [ "$$(id -u)" = 0 ] && ! getent passwd postern >/dev/null; then \
		useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin postern; \
	fi
	@# Exim for the interop tests, unpacked beside Postfix, not installed (the packages conflict).
	@$$( [ "$$(id -u)" = 0 ] || echo sudo ) sh tests/e2e/fetch_exim.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

run: build
	@if [ ! -f $(INSTANCE)/postern.conf ]; then \
		./$(BUILD)/postern -D $(INSTANCE) setup --fqdn $(RUN_FQDN) --bind $(RUN_BIND) || exit 1; \
		./$(BUILD)/postern -D $(INSTANCE) New-AcceptedDomain -DomainName example.test || exit 1; \
	fi
	@echo ""
	@echo "postern is starting on $(RUN_BIND) (instance in ./$(INSTANCE)). From another terminal:"
	@echo "  swaks --server $(RUN_BIND) --to postmaster@example.test --from you@example.org -tls"
	@echo "  ./$(BUILD)/postern -D $(INSTANCE) Get-Queue"
	@echo "Stop it with Ctrl-C."
	@echo ""
	exec ./$(BUILD)/postern -D $(INSTANCE) run

unit: build
	meson test -C $(BUILD) --print-errorlogs

e2e: build
	POSTERN_BIN=$(CURDIR)/$(BUILD)/postern $(PYTEST) -q tests/e2e

test-asan: asan
	meson test -C $(ASAN_BUILD) --print-errorlogs
	POSTERN_BIN=$(CURDIR)/$(ASAN_BUILD)/postern POSTERN_ASAN=1 $(PYTEST) -q tests/e2e

test: unit e2e test-asan

# libFuzzer targets (fuzz/README.md) under ASan+UBSan: each runs FUZZ_SECONDS
# on a scratch copy of its seeds after replaying its past crashes,
# FUZZ_JOBS targets at a time.
$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false

fuzz: deps $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)
	fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_JOBS)

# Crash rounds (tests/crash/crashtest.py): concurrent SMTP clients, kill -9 at
# random moments, then every acknowledged message exactly once in its Maildir.
# `make crashtest ROUNDS=1000`; a failure prints the SEED=... that replays it.
ROUNDS ?= 50
crashtest: build
	/usr/bin/python3 tests/crash/crashtest.py --rounds $(ROUNDS) $(if $(SEED),--seed $(SEED)) $(BUILD)/postern

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
