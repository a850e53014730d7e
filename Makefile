# FlowTrace: the two commands of the quick start are `make demo` and `make test`.
# Every target installs what it needs first (Debian packages through scripts/install-deps.sh).

SWIFT ?= swift
RELEASE := .build/release

.PHONY: deps build release demo test test-unit test-e2e bench install uninstall clean

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# The main job on the embedded default: twin + daemon in one process, no kernel module.
demo: release
	$(RELEASE)/flowtrace demo

# Every test: unit and property tests, then the end-to-end suites that run the built tools.
# --specs: the YNL tests load every spec the kernel ships.
test:
	@scripts/install-deps.sh --specs
	@scripts/test-all.sh

# Benchmark programs (numbers, not tests); BENCHMARKS.md records their results.
bench: release
	$(RELEASE)/codec-bench
	$(RELEASE)/backend-bench --sizes 1000,10000,100000
	$(RELEASE)/trace-bench 1000000
	$(RELEASE)/loopback-bench --calls 20000 --flows 200000
	$(RELEASE)/replay-bench

# The tools, man pages, shell completions and the Wireshark plugin (PREFIX, DESTDIR, CONFIG,
# WIRESHARK_PLUGINDIR: scripts/install.sh).
PREFIX ?= /usr/local
install: deps
	PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) scripts/install.sh

uninstall:
	PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) scripts/install.sh uninstall

clean:
	rm -rf .build
