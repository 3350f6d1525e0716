package main

import (
	"os"
	"path/filepath"
	"runtime"
)

// moduleHint says how to load the module, naming paths that work from any
// directory: the built module of the nflab checkout this command was built
// in or is installed in, if it can find one, or else a generic recipe.
// nflab needs nf_defrag_ipv4 and nf_reject_ipv4, which insmod does not load.
func moduleHint() string {
	return hintFor(checkoutCandidates())
}

// hintFor words the advice for the first nflab checkout among dirs.
func hintFor(dirs []string) string {
	for _, dir := range dirs {
		if !isCheckout(dir) {
			continue
		}
		ko := filepath.Join(dir, "kmod", "nflab.ko")
		if _, err := os.Stat(ko); err == nil {
			return "load it with 'modprobe -a nf_defrag_ipv4 nf_reject_ipv4 && insmod " + ko + "'"
		}
		return "build it with 'make -C " + dir + " module', then load it with 'modprobe -a nf_defrag_ipv4 nf_reject_ipv4 && insmod " + ko + "'"
	}
	return "build it with 'make module' in the nflab checkout, then load it with 'modprobe -a nf_defrag_ipv4 nf_reject_ipv4 && insmod CHECKOUT/kmod/nflab.ko'"
}

// isCheckout reports whether dir holds the nflab sources.
func isCheckout(dir string) bool {
	for _, f := range []string{"Kbuild", "kmod/main.c", "nlproto/nflab.h"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return false
		}
	}
	return true
}

// checkoutCandidates lists where an nflab checkout may be: the
// directories above the executable (go build -o nflab at the top, or
// bin/), then the one this file was compiled from, unless the build
// trimmed paths.
func checkoutCandidates() []string {
	var dirs []string
	if exe, err := os.Executable(); err == nil {
		if exe, err = filepath.EvalSymlinks(exe); err == nil {
			for dir := filepath.Dir(exe); ; dir = filepath.Dir(dir) {
				dirs = append(dirs, dir)
				if dir == filepath.Dir(dir) || len(dirs) == 4 {
					break
				}
			}
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		// file is <checkout>/gotool/cmd/nflab/hint.go.
		dirs = append(dirs, filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", "..")))
	}
	return dirs
}
