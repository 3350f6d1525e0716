# SPDX-License-Identifier: GPL-2.0
#
# nflab: build the module, the Go CLI and run the tests in QEMU.
# `make help` lists the targets.

SHELL := /bin/bash
.DEFAULT_GOAL := module

GO ?= go
export GOTOOLCHAIN ?= local
export GOFLAGS ?= -mod=readonly

# Lab kernel the module is built for and the VM boots: stock-<series>, where
# <series> is a Debian kernel series installed under /lib/modules (6.1 from
# linux-image-amd64). The exact ABI (6.1.0-NN) is discovered, never pinned.
KERNEL ?= stock-6.1
kernel_series := $(patsubst stock-%,%,$(KERNEL))
KVER ?= $(shell ls /lib/modules 2>/dev/null | \
	grep -E '^$(subst .,\.,$(kernel_series))\.[0-9]+(-[0-9]+|\+deb[0-9]+)-amd64$$' | \
	sort -V | tail -n1)
KDIR ?= /lib/modules/$(KVER)/build
VMLINUZ ?= /boot/vmlinuz-$(KVER)
MODDIR ?= /lib/modules/$(KVER)

NFLAB_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/nflab
export NFLAB_CACHE

KO := kmod/nflab.ko
KSRC := $(wildcard kmod/*.c kmod/*.h kmod/Kbuild) nlproto/nflab.h Kbuild

# Debian packages the project needs on a fresh Debian 12 machine.
DEB_PACKAGES := build-essential qemu-system-x86 linux-image-amd64 \
	linux-headers-amd64 linux-source-6.1 busybox-static socat iputils-ping \
	iproute2 sparse kmod xz-utils

STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: help deps module module-werror style check generate generate-check vet unit \
	vm-test test demo vm-shell vm-run clean need-kernel

help:
	@echo 'make deps      install what a fresh Debian 12 machine lacks (root)'
	@echo 'make [module]  build $(KO) for $(KERNEL) (or KDIR=...)'
	@echo 'make test      unit tests, vet, W=1 build, style, protocol drift, VM tests'
	@echo 'make demo      boot the lab VM, send traffic, show the hook counters'
	@echo 'make vm-shell  interactive shell in the lab VM, module loaded'
	@echo 'make vm-run SCRIPT=path/to/script.sh   run a script in the lab VM'
	@echo 'make style     checkpatch.pl --strict on the C sources'
	@echo 'make check     sparse on the module'
	@echo 'make generate  regenerate nlproto Go constants from nlproto/nflab.h'
	@echo 'variables: KERNEL=$(KERNEL) KVER=$(KVER) KDIR=$(KDIR)'

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
			grep -q '^install ok installed$$' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "deps: installing $$missing"; \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends $$missing >/dev/null || exit 1; \
	fi
	@$(GO) mod download
	@$(MAKE) -s $(NFLAB_CACHE)/checkpatch/checkpatch.pl

need-kernel:
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

style: $(NFLAB_CACHE)/checkpatch/checkpatch.pl
	perl $< --strict --no-tree --quiet -f $(filter-out %.mod.c,$(wildcard kmod/*.[ch])) nlproto/nflab.h

generate:
	$(GO) generate ./nlproto

generate-check:
	@$(GO) generate ./nlproto
	@git diff --exit-code --stat -- nlproto || \
		{ echo "nlproto: generated Go constants are stale; run 'make generate' and commit" >&2; exit 1; }

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed" >&2; exit 1; }
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# Unit tests: everything but the VM suite.
unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -vx 'github.com/nflab/nflab/vmtests')

vm_env = NFLAB_KERNEL=$(VMLINUZ) NFLAB_MODDIR=$(MODDIR) NFLAB_KO=$(CURDIR)/$(KO) \
	NFLAB_KERNEL_NAME=$(KERNEL)

vm-test: module
	$(vm_env) $(GO) test -count=1 -timeout 60m -v ./vmtests/

test: unit vet module-werror style generate-check vm-test

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

clean:
	-$(MAKE) -C $(KDIR) M=$(CURDIR) clean 2>/dev/null
	rm -rf modules.order Module.symvers bin
