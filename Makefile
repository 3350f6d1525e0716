# SPDX-License-Identifier: GPL-2.0
#
# nflab: build the module, the Go CLI and run the tests in QEMU.
# `make help` lists the targets.

SHELL := /bin/bash
.DEFAULT_GOAL := module

GO ?= go
export GOTOOLCHAIN ?= local
export GOFLAGS ?= -mod=readonly

# Lab kernel the module is built for and the VM boots:
#   stock-<series>  a Debian kernel installed under /lib/modules: stock-6.1
#                   (linux-image-amd64) or stock-6.12 (bookworm-backports);
#                   the exact ABI (6.1.0-NN) is discovered, never pinned
#   debug-6.1       built from linux-source-6.1 with KASAN, UBSAN, lockdep and
#                   kmemleak (vmtests/kernels/), cached outside the checkout
KERNEL ?= stock-6.1
ifeq ($(KERNEL),debug-6.1)
DEBUG_OUT := $(shell vmtests/kernels/build-debug.sh --path)
KDIR ?= $(DEBUG_OUT)/build
VMLINUZ ?= $(DEBUG_OUT)/build/arch/x86/boot/bzImage
# Known only once the kernel is built, hence "=".
KVER = $(shell cat $(DEBUG_OUT)/build/include/config/kernel.release 2>/dev/null)
MODDIR = $(DEBUG_OUT)/mods/lib/modules/$(KVER)
else ifneq ($(filter stock-%,$(KERNEL)),)
kernel_series := $(patsubst stock-%,%,$(KERNEL))
KVER ?= $(shell ls /lib/modules 2>/dev/null | \
	grep -E '^$(subst .,\.,$(kernel_series))\.[0-9]+(-[0-9]+|\+deb[0-9]+)-amd64$$' | \
	sort -V | tail -n1)
KDIR ?= /lib/modules/$(KVER)/build
VMLINUZ ?= /boot/vmlinuz-$(KVER)
MODDIR ?= /lib/modules/$(KVER)
else
$(error KERNEL=$(KERNEL): want stock-6.1, stock-6.12 or debug-6.1)
endif

NFLAB_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/nflab
export NFLAB_CACHE

KO := kmod/nflab.ko
KSRC := $(wildcard kmod/*.c kmod/*.h kmod/Kbuild) nlproto/nflab.h Kbuild

# Debian packages the project needs on a fresh Debian 12 machine.
DEB_PACKAGES := build-essential qemu-system-x86 linux-image-amd64 \
	linux-headers-amd64 linux-source-6.1 busybox-static socat iputils-ping \
	iproute2 nftables conntrack sparse kmod zsh xz-utils bc flex bison libelf-dev libssl-dev

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
ACTIONLINT := github.com/rhysd/actionlint/cmd/actionlint@v1.7.12

# Phase times of make deps, test and test-all, and each suite's slowest
# tests, for the closing report.
TIMES := $(CURDIR)/bin/times
export NFLAB_TIMES_DIR := $(TIMES)
PHASES := phases.txt
# $(call phase,NAME,COMMAND): run COMMAND as one timed phase. A failure
# prints the report so far and fails the target.
phase = s=$$(date +%s); $(2); rc=$$?; \
	d=$$(( $$(date +%s) - s )); mkdir -p $(TIMES); \
	printf '%-28s %5d s  %s\n' '$(1)' $$d "$$([ $$rc = 0 ] && echo ok || echo FAILED)" >>$(TIMES)/$(PHASES); \
	echo "=== phase $(1): $$d s"; \
	if [ $$rc != 0 ]; then $(MAKE) -s times; exit $$rc; fi

.PHONY: help deps debug-kernel test-all soak times lint-ci bench bench-smoke module module-werror style check generate generate-check vet unit \
	vm-test test demo vm-shell vm-run clean need-kernel

help:
	@echo 'make deps      install what a fresh Debian 12 machine lacks (root)'
	@echo 'make [module]  build $(KO) for $(KERNEL) (or KDIR=...)'
	@echo 'make test      unit tests, vet, W=1 build, style, protocol drift, VM tests'
	@echo '               on stock-6.1 and debug-6.1'
	@echo 'make test-all  make test, plus the VM tests on stock-6.12'
	@echo 'make soak      the VM suites on every lab kernel with ten times the iteration counts'
	@echo 'make times     the report of the last deps/test/test-all: phase times, slowest tests'
	@echo 'make lint-ci   actionlint on the GitHub workflow'
	@echo 'make bench     bare forwarding, kernel conntrack, nflab and nflab with rules in one VM:'
	@echo '               table, plots and JSON in bin/bench/<time>/; BASELINE=<git rev> adds'
	@echo '               that revision'"'"'s nflab.ko as one more configuration'
	@echo 'make bench-smoke  two short rounds of make bench: every configuration moves traffic'
	@echo 'make demo      boot the lab VM, send traffic, show the hook counters'
	@echo 'make vm-shell  interactive shell in the lab VM, module loaded'
	@echo 'make vm-run SCRIPT=path/to/script.sh   run a script in the lab VM'
	@echo 'make style     checkpatch.pl --strict on the C sources'
	@echo 'make check     sparse on the module'
	@echo 'make generate  regenerate nlproto Go constants, name tables and C checks from nlproto/nflab.h'
	@echo 'variables: KERNEL=$(KERNEL) (stock-6.1, stock-6.12, debug-6.1) KVER=$(KVER) KDIR=$(KDIR)'

deps: PHASES := deps.txt
deps:
	@rm -f $(TIMES)/deps.txt
	@$(call phase,deps,$(MAKE) -s deps-install)

.PHONY: deps-install
deps-install:
	@missing=$$(for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
			grep -q '^install ok installed$$' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "deps: installing $$missing"; \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $$missing >/dev/null || exit 1; \
	fi
	@vmtests/kernels/deps-backports.sh
	@$(GO) mod download
	@$(GO) run $(ACTIONLINT) -version >/dev/null
	@$(MAKE) -s $(NFLAB_CACHE)/checkpatch/checkpatch.pl

# The debug kernel builds on first use (tens of minutes cold, then cached).
debug-kernel:
	@vmtests/kernels/build-debug.sh >/dev/null

need-kernel: $(if $(filter debug-6.1,$(KERNEL)),debug-kernel)
	@if [ -z "$(KVER)" ] || [ ! -d "$(KDIR)" ]; then \
		echo "no headers for $(KERNEL) under /lib/modules (KVER='$(KVER)'); run 'make deps' or set KDIR=" >&2; \
		exit 1; fi

module: need-kernel
	$(MAKE) -C $(KDIR) M=$(CURDIR) W=1 modules

# The warning-free check: W=1 with warnings as errors.
module-werror: need-kernel
	$(MAKE) -C $(KDIR) M=$(CURDIR) W=1 KCFLAGS=-Werror modules

check: need-kernel
	@command -v sparse >/dev/null || { echo "sparse not installed (make deps)" >&2; exit 1; }
	$(MAKE) -C $(KDIR) M=$(CURDIR) C=2 modules 2>&1 | tee /dev/stderr | \
		{ ! grep -E '^[^ ]+:[0-9]+:[0-9]+: (warning|error)'; }

# checkpatch.pl is not in the headers package; take it (and the data files it
# reads) from Debian's linux-source tarball once.
$(NFLAB_CACHE)/checkpatch/checkpatch.pl:
	@tarball=$$(ls /usr/src/linux-source-*.tar.xz 2>/dev/null | sort -V | tail -n1); \
	[ -n "$$tarball" ] || { echo "no /usr/src/linux-source-*.tar.xz (make deps)" >&2; exit 1; }; \
	top=$$(basename $$tarball .tar.xz); tmp=$$(mktemp -d); \
	tar -xJf $$tarball -C $$tmp $$top/scripts/checkpatch.pl \
		$$top/scripts/spelling.txt $$top/scripts/const_structs.checkpatch && \
	mkdir -p $(@D) && cp $$tmp/$$top/scripts/* $(@D)/ && rm -rf $$tmp

# compat.h is where version checks belong: the one thing it may do that
# checkpatch (written for in-tree code) objects to.
style: $(NFLAB_CACHE)/checkpatch/checkpatch.pl
	perl $< --strict --no-tree --quiet -f \
		$(filter-out %.mod.c kmod/compat.h,$(wildcard kmod/*.[ch])) nlproto/nflab.h \
		nlproto/zz_static_assert.h
	perl $< --strict --no-tree --quiet --ignore LINUX_VERSION_CODE -f kmod/compat.h

# The protocol's Go constants from nflab.h, and the README's CLI reference
# from the CLI's command declarations.
generate:
	$(GO) generate ./nlproto ./gotool/cmd/nflab

generate-check:
	@$(GO) generate ./nlproto ./gotool/cmd/nflab
	@git diff --exit-code --stat -- nlproto README.md && \
		test -z "$$(git ls-files --others --exclude-standard -- nlproto)" || \
		{ echo "generated files (nlproto, the README's CLI reference) are stale; run 'make generate' and commit" >&2; exit 1; }

# The CI workflow, checked as GitHub would read it.
lint-ci:
	$(GO) run $(ACTIONLINT) .github/workflows/*.yml

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed" >&2; exit 1; }
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# Unit tests: everything but the VM suite itself (TestGuest), which would
# only skip here. A skipped test fails the target: a skip is not a pass.
# The log keeps everything; the terminal gets all but the passing tests.
UNIT_LOG = $(CURDIR)/bin/unit.log
unit:
	@mkdir -p bin
	@$(GO) test -race -count=1 -v -skip '^TestGuest$$' ./... >$(UNIT_LOG) 2>&1; rc=$$?; \
		grep -vE '^ *(=== (RUN|PAUSE|CONT|NAME)|--- PASS|PASS$$)' $(UNIT_LOG); \
		[ $$rc = 0 ] || exit $$rc; \
		if grep -qE '^ *--- SKIP' $(UNIT_LOG); then \
			echo "unit: skipped tests fail make unit (install what they name: make deps)" >&2; exit 1; fi

vm_env = NFLAB_VMTEST=1 NFLAB_KERNEL=$(VMLINUZ) NFLAB_MODDIR=$(MODDIR) NFLAB_KO=$(CURDIR)/$(KO) \
	NFLAB_KERNEL_NAME=$(KERNEL)

# The VM's own limit is the kernel's budget (vmtests/internal/vm/budget.go);
# go test's is only a backstop above it.
VM_TEST_TIMEOUT ?= 60m
# TestGuest must have passed, not skipped or been left out: go test's own
# status does not tell.
VM_TEST_LOG = $(CURDIR)/bin/vm-test-$(KERNEL).log
vm-test: module
	@mkdir -p bin
	set -o pipefail; $(vm_env) NFLAB_SOAK=$(NFLAB_SOAK) $(GO) test -count=1 -timeout $(VM_TEST_TIMEOUT) -v ./vmtests/ 2>&1 | \
		tee $(VM_TEST_LOG)
	@grep -q '^--- PASS: TestGuest ' $(VM_TEST_LOG) || \
		{ echo "vm-test: TestGuest did not pass on $(KERNEL) (skipped or not run)" >&2; exit 1; }

# Benchmarks (vmtests/guest/bench_test.go, report by TestGuest): in one VM
# boot, interleaved rounds of bare forwarding, the kernel's nf_conntrack,
# nflab and nflab with rules (1 rule, 1,000 rules, a 100,000-prefix set
# rule; A B C R1 R1000 RSET A ...), and nflab's ruleset apply time and
# memory; the report, plots and JSON go to
# bin/bench/<UTC time>/ (BENCH_OUT=). On a stock kernel only: numbers from
# the debug kernel mean nothing. BASELINE=<git revision> also builds nflab.ko
# at that revision and adds it as a configuration of its own (C'), in the
# same rounds. bench-smoke runs two short rounds and fails if any
# configuration moved no traffic.
BASELINE ?=
BASELINE_DIR := $(CURDIR)/bin/baseline
BENCH_OUT ?=
bench_env = $(vm_env) NFLAB_BENCH_OUT=$(BENCH_OUT) NFLAB_VMTEST_BENCH=$${NFLAB_VMTEST_BENCH:-Compare}
BENCH_LOG = $(CURDIR)/bin/bench-$(KERNEL).log
SMOKE_LOG = $(CURDIR)/bin/bench-smoke-$(KERNEL).log
bench: module
	@if [ -n "$(BASELINE)" ]; then \
		rm -rf $(BASELINE_DIR) && mkdir -p $(BASELINE_DIR) && \
		git archive --format=tar $(BASELINE) | tar -x -C $(BASELINE_DIR) && \
		$(MAKE) -s -C $(BASELINE_DIR) KERNEL=$(KERNEL) KDIR=$(KDIR) module >/dev/null || exit 1; \
	fi
	@mkdir -p bin
	set -o pipefail; $(bench_env) $(if $(BASELINE),NFLAB_BASELINE_KO=$(BASELINE_DIR)/kmod/nflab.ko) \
		NFLAB_BENCH_PROFILE=$${NFLAB_BENCH_PROFILE:-full} $(GO) test -count=1 -timeout 35m -v -run '^TestGuest$$' ./vmtests/ 2>&1 | tee $(BENCH_LOG)
	@grep -q '^--- PASS: TestGuest ' $(BENCH_LOG) || \
		{ echo "bench: TestGuest did not pass on $(KERNEL)" >&2; exit 1; }

bench-smoke: module
	@mkdir -p bin
	set -o pipefail; $(bench_env) NFLAB_BENCH_PROFILE=smoke \
		$(GO) test -count=1 -timeout 15m -v -run '^TestGuest$$' ./vmtests/ 2>&1 | tee $(SMOKE_LOG)
	@grep -q '^--- PASS: TestGuest ' $(SMOKE_LOG) || \
		{ echo "bench-smoke: TestGuest did not pass on $(KERNEL)" >&2; exit 1; }

# One timed phase per step; each VM suite is its own make, so that the
# kernel variables are evaluated for it. The debug kernel builds (or is
# found in the cache) in a phase of its own, before its module.
test:
	@rm -f $(TIMES)/phases.txt $(TIMES)/slowest-*.txt
	@$(MAKE) -s test-phases
	@$(MAKE) -s times

test-all:
	@rm -f $(TIMES)/phases.txt $(TIMES)/slowest-*.txt
	@$(MAKE) -s test-phases
	@$(call phase,module stock-6.12,$(MAKE) -s KERNEL=stock-6.12 module-werror)
	@$(call phase,suite stock-6.12,$(MAKE) -s KERNEL=stock-6.12 vm-test)
	@$(MAKE) -s times

.PHONY: test-phases
test-phases:
	@$(call phase,unit,$(MAKE) -s unit)
	@$(call phase,vet lint-ci style generate,$(MAKE) -s vet lint-ci style generate-check)
	@$(call phase,module stock-6.1,$(MAKE) -s KERNEL=stock-6.1 module-werror)
	@$(call phase,debug kernel build,$(MAKE) -s KERNEL=debug-6.1 debug-kernel)
	@$(call phase,module debug-6.1,$(MAKE) -s KERNEL=debug-6.1 module-werror)
	@$(call phase,suite stock-6.1,$(MAKE) -s KERNEL=stock-6.1 vm-test)
	@$(call phase,bench-smoke stock-6.1,$(MAKE) -s KERNEL=stock-6.1 bench-smoke)
	@$(call phase,suite debug-6.1,$(MAKE) -s KERNEL=debug-6.1 vm-test)

# Soak: the suites with ten times the counts (vmtests/internal/vm/budget.go),
# not part of test-all.
# Every kernel runs even when one fails.
soak:
	@rc=0; for k in stock-6.1 stock-6.12 debug-6.1; do \
		$(MAKE) KERNEL=$$k NFLAB_SOAK=1 VM_TEST_TIMEOUT=600m vm-test || rc=1; \
	done; exit $$rc

# The report: the time of each phase (deps from its last run) and each
# suite's slowest guest tests.
times:
	@echo "=== times"
	@cat $(TIMES)/deps.txt $(TIMES)/phases.txt 2>/dev/null | \
		awk '{print} {n=$$(NF-2); if (n ~ /^[0-9]+$$/) t+=n} END {printf "%-28s %5d s\n", "total", t}'
	@cat $(TIMES)/slowest-*.txt 2>/dev/null || true

# nflab-vm is built, not "go run": go run turns every failure into exit 1,
# and bin/nflab-vm run passes the script's own status through.
NFLAB_VM := bin/nflab-vm
$(NFLAB_VM): FORCE
	@$(GO) build -o $@ ./vmtests/cmd/nflab-vm

demo: module $(NFLAB_VM)
	$(vm_env) $(NFLAB_VM) run vmtests/demo/demo.sh

vm-shell: module $(NFLAB_VM)
	$(vm_env) $(NFLAB_VM) shell

# make itself reports any failure as 2; the script's exact status is what
# "bin/nflab-vm run" returns (printed on its last line).
vm-run: module $(NFLAB_VM)
	@test -n "$(SCRIPT)" || { echo "usage: make vm-run SCRIPT=path/to/script.sh" >&2; exit 2; }
	@$(vm_env) $(NFLAB_VM) run $(SCRIPT)

FORCE:

# Not the kernel's "make M=... clean": it deletes every *.mod under M,
# and go.mod is one.
clean:
	rm -f kmod/*.o kmod/*.ko kmod/*.mod kmod/*.mod.c kmod/.*.cmd kmod/modules.order .*.cmd
	rm -rf modules.order Module.symvers bin .tmp_versions
