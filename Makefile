# postern — the two commands of the README, and the build behind them.
#   make         build build/postern
#   make run     set up an instance in ./var on 127.0.0.1:2525 and run it in the foreground,
#                with the management console on https://127.0.0.1:2580/
#   make test    unit and end-to-end tests, then again under ASan+UBSan
#   make bench   postern against Postfix, every workload, one table (QUICK=1: a short look)
#   make deb     the Debian package, ./postern_VERSION_ARCH.deb (apt install ./postern_*.deb)
# Every target first installs missing Debian packages (apt-get), so a fresh
# Debian 12 machine needs nothing else.

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
BENCH_BUILD ?= build-bench
FUZZ_SECONDS ?= 30
FUZZ_JOBS    ?= 1
INSTANCE   ?= var
RUN_BIND   ?= 127.0.0.1:2525
RUN_FQDN   ?= mail.example.test
PYTEST     ?= /usr/bin/python3 -m pytest

# Build and test dependencies: compiler and libraries, then the real peers
# the end-to-end tests talk to.
DEB_PACKAGES = gcc libc6-dev pkg-config meson ninja-build libssl-dev libevent-dev \
	libunbound-dev libcrypt-dev libedit-dev zlib1g-dev libcmocka-dev openssl ca-certificates python3 python3-pytest \
	swaks libnet-ssleay-perl postfix sasl2-bin libsasl2-modules unbound dovecot-lmtpd clang-format \
	clang libclang-rt-dev testssl.sh libidn12 cppcheck clang-tidy valgrind man-db groff-base \
	libjansson-dev chromium ldnsutils unbound-host dns-root-data \
	python3-prometheus-client prometheus python3-dkim

.PHONY: all deps build deb test-package install uninstall asan run test unit e2e browser test-asan clean format crashtest fuzz mutants lint valgrind bench

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
	@# The service drops to this user after binding its ports (docs/security.md).
	@if [ "$$(id -u)" = 0 ] && ! getent passwd postern >/dev/null; then \
		useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin postern; \
	fi
	@# Node.js and npm for the browser tests (playwright-core, tests/browser), unless a
	@# Node.js is already there (nodesource's package ships its own npm).
	@if ! command -v npm >/dev/null; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends nodejs npm; \
	fi
	@# Exim for the interop tests, unpacked beside Postfix, not installed (the packages conflict).
	@$$( [ "$$(id -u)" = 0 ] || echo sudo ) sh tests/e2e/fetch_exim.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug \
		-Dtest_hooks=true

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

# The binary (PREFIX/sbin), its man pages (postern(8), postern.conf(5)) and
# the systemd unit (PREFIX/lib/systemd/system) under the prefix meson was
# given (default /usr/local); DESTDIR=... stages them. The console's web
# files are inside the binary (tools/embed_assets.py).
install: build
	meson install -C $(BUILD) --no-rebuild

uninstall:
	ninja -C $(BUILD) uninstall

# The Debian package (debian/), built from a copy of the tree in
# $(DEB_BUILD) so that nothing of dpkg-buildpackage lands in the
# repository but the .deb itself; then lintian, whose warnings fail it.
# Installs only what building the package needs: the tools, then
# debian/control's Build-Depends (apt-get build-dep ./).
# DEB_BUILD_OPTIONS=nocheck skips the unit tests the build runs.
DEB_BUILD ?= build-deb
DEB_TOOLS = dpkg-dev debhelper lintian
deb:
	@missing=$$(for p in $(DEB_TOOLS); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	if [ -n "$$missing" ]; then \
		echo "installing: $$missing"; \
		$$SUDO apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing || exit 1; \
	fi; \
	if ! dpkg-checkbuilddeps 2>/dev/null; then \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get build-dep -y -q --no-install-recommends ./ || exit 1; \
	fi
	rm -rf $(DEB_BUILD) && mkdir -p $(DEB_BUILD)/src
	tar -c --exclude=./.git --exclude='./build*' --exclude=./var --exclude='./obj-*' \
		--exclude='./postern_*' --exclude=node_modules --exclude=__pycache__ \
		--exclude=.pytest_cache . | tar -x -C $(DEB_BUILD)/src
	cd $(DEB_BUILD)/src && dpkg-buildpackage -us -uc -b -jauto
	lintian --fail-on error,warning $(DEB_BUILD)/postern_*.changes
	rm -f postern_*.deb && cp $(DEB_BUILD)/postern_*.deb .
	@echo "built: $$(ls postern_*.deb) (install it with: apt install ./$$(ls postern_*.deb))"

# The package installed and run under systemd (tests/package): a Debian 12
# container booted with systemd-nspawn from a debootstrap'd tree cached in
# build-nspawn/ (made once, about two minutes), with loopback only. Needs root.
test-package: deb
	@missing=$$(for p in systemd-container debootstrap; do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	fi
	POSTERN_DEB=$(CURDIR)/$$(ls postern_*.deb) $(PYTEST) -q tests/package

asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

# The console's first administrator: a mailbox "admin" with a random
# password, kept (0600) in $(INSTANCE)/admin-password so that the URL line
# can say it; Set-Mailbox admin -Password - changes it (then delete the file).
run: build
	@if [ ! -f $(INSTANCE)/postern.conf ]; then \
		./$(BUILD)/postern -D $(INSTANCE) setup --fqdn $(RUN_FQDN) --bind $(RUN_BIND) || exit 1; \
		./$(BUILD)/postern -D $(INSTANCE) New-AcceptedDomain -DomainName example.test || exit 1; \
		(umask 077; head -c 12 /dev/urandom | base64 | tr -d '/+=' > $(INSTANCE)/admin-password) && \
		./$(BUILD)/postern -D $(INSTANCE) New-Mailbox -Name admin -PrimarySmtpAddress admin@example.test \
			-Password - < $(INSTANCE)/admin-password >/dev/null && \
		./$(BUILD)/postern -D $(INSTANCE) Add-ExchangeAdministrator -Identity admin -Role OrgAdmin || exit 1; \
	fi
	@echo ""
	@echo "postern is starting on $(RUN_BIND) (instance in ./$(INSTANCE)). From another terminal:"
	@echo "  swaks --server $(RUN_BIND) --to postmaster@example.test --from you@example.org -tls"
	@echo "  ./$(BUILD)/postern -D $(INSTANCE) Get-Queue"
	@echo "The management console (a self-signed certificate: the browser asks once):"
	@./$(BUILD)/postern -D $(INSTANCE) Get-TransportConfig | sed -n 's/^ConsoleBindings *: {\(.*\)}/  https:\/\/\1\//p' | cut -d, -f1
	@if [ -f $(INSTANCE)/admin-password ]; then echo "  user admin, password $$(cat $(INSTANCE)/admin-password)"; fi
	@echo "Stop both with Ctrl-C."
	@echo ""
	@./$(BUILD)/postern -D $(INSTANCE) console & console=$$!; \
		trap 'kill $$console 2>/dev/null' EXIT INT TERM; \
		./$(BUILD)/postern -D $(INSTANCE) run

unit: build
	meson test -C $(BUILD) --print-errorlogs

e2e: build
	POSTERN_BIN=$(CURDIR)/$(BUILD)/postern $(PYTEST) -q tests/e2e

test-asan: asan
	meson test -C $(ASAN_BUILD) --print-errorlogs
	POSTERN_BIN=$(CURDIR)/$(ASAN_BUILD)/postern POSTERN_ASAN=1 $(PYTEST) -q tests/e2e

# The standing proofs of issue 7 run in CI too: 50 crash rounds, 30 s of
# each fuzz target (two at a time), every hand-written mutant killed, and
# clang-tidy and cppcheck clean.
# The console in Debian's chromium, driven by playwright-core (tests/browser).
browser: build
	POSTERN_BIN=$(CURDIR)/$(BUILD)/postern bash tests/browser/run.sh

test: unit e2e browser test-asan crashtest
	$(MAKE) fuzz FUZZ_JOBS=2
	$(MAKE) mutants
	$(MAKE) lint
	$(MAKE) test-package DEB_BUILD_OPTIONS=nocheck

# Each safety guard's mutant must make its tests fail (tests/mutants/).
mutants: build
	/usr/bin/python3 tests/mutants/run.py -j $(MUTANT_JOBS)

# libFuzzer targets (fuzz/README.md) under ASan+UBSan: each runs FUZZ_SECONDS
# on a scratch copy of its seeds after replaying its past crashes,
# FUZZ_JOBS targets at a time.
$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false

fuzz: deps $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)
	fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_JOBS)

# Static analysis: clang-tidy with the checks of .clang-tidy on src/ (two
# files at a time; it needs the build's compile_commands.json), then
# cppcheck on all the C. Either one's finding fails the target.
lint: build
	run-clang-tidy -j 2 -p $(BUILD) -quiet "$(CURDIR)/src/"
	cppcheck --quiet --enable=warning,portability --std=c11 -D_GNU_SOURCE --inline-suppr \
		--error-exitcode=1 -I src src fuzz tests/unit tests/tools tests/faults

# The e2e suite with postern under valgrind's memcheck (tests/valgrind/postern),
# on demand: many times slower. `make valgrind VALGRIND_TESTS=tests/e2e/test_receive.py`
# runs only those files (or test ids).
VALGRIND_TESTS ?= tests/e2e
valgrind: build
	POSTERN_REAL_BIN=$(CURDIR)/$(BUILD)/postern POSTERN_BIN=$(CURDIR)/tests/valgrind/postern \
		POSTERN_SLOW=20 $(PYTEST) -q $(VALGRIND_TESTS)

# Crash rounds (tests/crash/crashtest.py): concurrent SMTP clients, kill -9 at
# random moments, then every acknowledged message exactly once in its Maildir.
# `make crashtest ROUNDS=1000`; a failure prints the SEED=... that replays it.
ROUNDS ?= 50
MUTANT_JOBS ?= 2
crashtest: build
	/usr/bin/python3 tests/crash/crashtest.py --rounds $(ROUNDS) $(if $(SEED),--seed $(SEED)) $(BUILD)/postern

# bench/run.sh on an optimized build: postern against a private Postfix (accept,
# relay, STARTTLS, latency, idle sessions, recovery), one table, also appended
# to bench/RESULTS.md. Needs root. `make bench QUICK=1`: 1 run each, under 3 minutes.
$(BENCH_BUILD)/build.ninja:
	meson setup $(BENCH_BUILD) --buildtype=debugoptimized

bench: deps $(BENCH_BUILD)/build.ninja
	ninja -C $(BENCH_BUILD)
	POSTERN_BIN=$(CURDIR)/$(BENCH_BUILD)/postern QUICK=$(if $(filter-out 0,$(QUICK)),1,0) bash bench/run.sh -w

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
