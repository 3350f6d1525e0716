package vm

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
)

// bootModules are loaded by u-root's init (modules_load=) before the guest
// init runs: the 9p transport for the run directory, the link types
// topology tests use, nf_defrag_ipv4 and nf_reject_ipv4, which nflab.ko
// needs (insmod does not resolve dependencies), and the textsearch
// algorithms its string match asks for. The guest cannot autoload modules.
var bootModules = []string{"virtio_pci", "9pnet_virtio", "9p", "veth", "dummy", "bridge", "nf_defrag_ipv4", "nf_reject_ipv4", "ts_bm", "ts_kmp"}

// extraModules are put in the image, not loaded: tests load them with
// modprobe (or the kernel does, through /sbin/modprobe), e.g. to check that
// nflab coexists with the kernel's own conntrack and nf_tables. Missing ones
// are left out.
var extraModules = []string{
	"nf_conntrack", "nf_conntrack_netlink", "nf_nat",
	"nf_tables", "nft_ct", "nft_nat", "nft_chain_nat", "nft_masq", "nft_redir",
	"sch_netem",
	// NFQUEUE and nf_dup, for the copies tests.
	"nfnetlink_queue", "nft_queue", "nft_dup_ipv4",
	// The benchmarks' in-kernel traffic generator.
	"pktgen",
	// Socket diagnostics, for ss (which reads /proc/net/tcp without them).
	"inet_diag", "tcp_diag",
	// nft list hooks: which functions sit at a hook (the traces' tests).
	"nfnetlink_hook",
}

// moduleFile is a kernel module or metadata file for the image.
type moduleFile struct {
	name string // path in the image
	data []byte
}

// kernelModules returns the files that go into /lib/modules/<release> of
// the image: the boot and extra modules with their modules.dep closure and
// their soft dependencies, decompressed (so busybox modprobe can load
// them), and modules.dep, modules.alias, modules.softdep and modules.builtin
// restricted to those. It also returns the boot modules that are loadable
// rather than built in, for modules_load=.
func kernelModules(modDir, release string) (files []moduleFile, load []string, err error) {
	deps, err := readModulesDep(filepath.Join(modDir, "modules.dep"))
	if err != nil {
		return nil, nil, err
	}
	var meta [3][]byte // modules.builtin, modules.alias, modules.softdep
	for i, n := range []string{"modules.builtin", "modules.alias", "modules.softdep"} {
		meta[i], err = os.ReadFile(filepath.Join(modDir, n))
		if err != nil && !os.IsNotExist(err) {
			return nil, nil, err
		}
	}
	builtin, aliases, softdeps := meta[0], parseLines(meta[1]), parseLines(meta[2])
	isBuiltin := map[string]bool{}
	for _, l := range strings.Fields(string(builtin)) {
		isBuiltin[moduleName(l)] = true
	}
	byName := map[string]string{}
	for p := range deps {
		byName[moduleName(p)] = p
	}
	// "alias crc32c crc32c_generic": exact aliases, for soft dependencies.
	aliasTo := map[string][]string{}
	for _, f := range aliases {
		if len(f) == 3 && f[0] == "alias" {
			aliasTo[f[1]] = append(aliasTo[f[1]], f[2])
		}
	}
	// "softdep libcrc32c pre: crc32c": libcrc32c needs the crc32c
	// algorithm, which the kernel requests through modprobe.
	soft := map[string][]string{}
	for _, f := range softdeps {
		if len(f) > 2 && f[0] == "softdep" {
			for _, d := range f[2:] {
				if d != "pre:" && d != "post:" {
					soft[f[1]] = append(soft[f[1]], d)
				}
			}
		}
	}

	want := map[string]bool{} // modules.dep paths to include
	var add func(path string)
	add = func(path string) {
		if want[path] {
			return
		}
		want[path] = true
		for _, d := range deps[path] {
			add(d)
		}
		for _, d := range soft[moduleName(path)] {
			for _, m := range append([]string{d}, aliasTo[d]...) {
				if p, ok := byName[strings.ReplaceAll(m, "-", "_")]; ok {
					add(p)
				}
			}
		}
	}
	for _, m := range bootModules {
		switch p, ok := byName[m]; {
		case ok:
			add(p)
			load = append(load, m)
		case isBuiltin[m]:
		default:
			return nil, nil, fmt.Errorf("kernel module %s is neither in %s/modules.dep nor built in", m, modDir)
		}
	}
	for _, m := range extraModules {
		if p, ok := byName[m]; ok {
			add(p)
		}
	}

	dir := filepath.Join("lib/modules", release)
	paths := make([]string, 0, len(want))
	included := map[string]bool{}
	for p := range want {
		paths = append(paths, p)
		included[moduleName(p)] = true
	}
	sort.Strings(paths)
	var dep bytes.Buffer
	for _, p := range paths {
		data, err := readModule(filepath.Join(modDir, p))
		if err != nil {
			return nil, nil, err
		}
		files = append(files, moduleFile{filepath.Join(dir, plainKO(p)), data})
		fmt.Fprintf(&dep, "%s:", plainKO(p))
		for _, d := range deps[p] {
			fmt.Fprintf(&dep, " %s", plainKO(d))
		}
		dep.WriteByte('\n')
	}
	var alias, softdep bytes.Buffer
	for _, f := range aliases {
		if len(f) == 3 && included[strings.ReplaceAll(f[2], "-", "_")] {
			fmt.Fprintln(&alias, strings.Join(f, " "))
		}
	}
	for _, f := range softdeps {
		if len(f) > 2 && included[strings.ReplaceAll(f[1], "-", "_")] {
			fmt.Fprintln(&softdep, strings.Join(f, " "))
		}
	}
	files = append(files,
		moduleFile{filepath.Join(dir, "modules.dep"), dep.Bytes()},
		moduleFile{filepath.Join(dir, "modules.alias"), alias.Bytes()},
		moduleFile{filepath.Join(dir, "modules.softdep"), softdep.Bytes()},
		moduleFile{filepath.Join(dir, "modules.builtin"), builtin})
	return files, load, nil
}

// parseLines splits a modules.* file into fields, without comments.
func parseLines(b []byte) [][]string {
	var out [][]string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 0 && !strings.HasPrefix(f[0], "#") {
			out = append(out, f)
		}
	}
	return out
}

// readModulesDep parses modules.dep into module path → dependency paths.
func readModulesDep(path string) (map[string][]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	deps := map[string][]string{}
	s := bufio.NewScanner(f)
	s.Buffer(nil, 1<<20)
	for s.Scan() {
		mod, d, ok := strings.Cut(s.Text(), ":")
		if !ok {
			continue
		}
		deps[strings.TrimSpace(mod)] = strings.Fields(d)
	}
	if err := s.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return deps, nil
}

// moduleName turns "kernel/net/9p/9pnet-virtio.ko.xz" into "9pnet_virtio".
func moduleName(path string) string {
	n := filepath.Base(plainKO(path))
	return strings.ReplaceAll(strings.TrimSuffix(n, ".ko"), "-", "_")
}

// plainKO strips a compression suffix: "a.ko.xz" → "a.ko".
func plainKO(path string) string {
	for _, ext := range []string{".xz", ".gz", ".zst"} {
		if strings.HasSuffix(path, ".ko"+ext) {
			return strings.TrimSuffix(path, ext)
		}
	}
	return path
}

// readModule reads a .ko, .ko.xz, .ko.gz or .ko.zst file, decompressed.
func readModule(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r io.Reader
	switch filepath.Ext(path) {
	case ".ko":
		return b, nil
	case ".xz":
		r, err = xz.NewReader(bytes.NewReader(b))
	case ".gz":
		r, err = gzip.NewReader(bytes.NewReader(b))
	case ".zst":
		var d *zstd.Decoder
		d, err = zstd.NewReader(bytes.NewReader(b), zstd.WithDecoderConcurrency(1))
		if err == nil {
			defer d.Close()
			r = d
		}
	default:
		return nil, fmt.Errorf("%s: unknown module file type", path)
	}
	if err == nil {
		b, err = io.ReadAll(r)
	}
	if err != nil {
		return nil, fmt.Errorf("decompressing %s: %w", path, err)
	}
	return b, nil
}
