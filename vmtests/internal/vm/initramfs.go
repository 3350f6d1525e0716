package vm

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/u-root/gobusybox/src/pkg/golang"
	"github.com/u-root/mkuimage/cpio"
	"github.com/u-root/mkuimage/ldd"
	"github.com/u-root/mkuimage/uimage"
	"github.com/u-root/uio/llog"
)

// imageVersion changes whenever this file changes what goes into the image
// in a way the cache key does not see.
const imageVersion = "nflab-initramfs-1"

const guestInitPkg = modulePath + "/vmtests/cmd/nflab-guestinit"

// guestSources are the directories, relative to the repository root, whose
// files are compiled into the guest init.
var guestSources = []string{"vmtests/cmd/nflab-guestinit", "vmtests/internal/vmshare"}

// hostTools are host binaries copied into the image with their shared
// libraries, by real path (uimage does not follow symlinks).
var hostTools = []struct {
	name     string
	required bool
}{
	{"busybox", true}, // must be busybox-static; its applets go to /bin
	// /bin/sh. Debian's busybox sh runs its own applets (ip, ping, nc…)
	// before anything on PATH, so scripts get dash.
	{"dash", true},
	{"ip", true},   // iproute2: netns and veth, which busybox ip lacks
	{"ss", true},   // iproute2: sockets by TCP state (ss -tn state syn-recv)
	{"ping", true}, // iputils
	{"socat", true},
	{"nft", true}, // the kernel's own tracker beside nflab (coexistence tests)
	// conntrack-tools: the kernel tracker's table, the oracle nflab's
	// tracker is compared with (oracle_test.go). Its libraries
	// (libnetfilter_conntrack, libnfnetlink, libmnl) come along through
	// ldd; it loads no plugins.
	{"conntrack", true},
	{"tcpdump", false},
}

const passwd = `root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
`

const group = `root:x:0:
nogroup:x:65534:
`

// initramfs returns the path of the cached initramfs for c's kernel,
// building it first if its inputs changed. It also returns the kernel
// modules to load at boot.
func initramfs(c *Config, root, release string) (path string, load []string, err error) {
	mods, load, err := kernelModules(c.ModDir, release)
	if err != nil {
		return "", nil, err
	}
	tools, err := findTools()
	if err != nil {
		return "", nil, err
	}

	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00", imageVersion, release, goVersion(root))
	for _, m := range mods {
		fmt.Fprintf(h, "%s\x00%d\x00", m.name, len(m.data))
		h.Write(m.data)
	}
	for _, f := range []string{"go.mod", "go.sum"} {
		if err := hashFile(h, f, filepath.Join(root, f)); err != nil {
			return "", nil, err
		}
	}
	for _, d := range guestSources {
		if err := hashTree(h, root, d); err != nil {
			return "", nil, err
		}
	}
	var libs []string
	for _, t := range tools {
		if err := hashFile(h, t.src, t.src); err != nil {
			return "", nil, err
		}
		fmt.Fprintf(h, "%s\x00", t.dst)
		l, err := ldd.FList(t.src)
		if err != nil {
			return "", nil, fmt.Errorf("listing the libraries of %s: %w", t.src, err)
		}
		libs = append(libs, l...)
	}
	sort.Strings(libs)
	for _, l := range libs {
		if err := hashFile(h, l, l); err != nil {
			return "", nil, err
		}
	}

	path = filepath.Join(c.CacheDir, "initramfs-"+hex.EncodeToString(h.Sum(nil)[:12])+".cpio")
	if _, err := os.Stat(path); err == nil {
		touch(path)
		return path, load, nil
	}
	fmt.Fprintf(c.Stdout, "building initramfs (cached afterwards)…\n")
	start := time.Now()
	if err := buildInitramfs(path, root, mods, tools); err != nil {
		return "", nil, fmt.Errorf("building the initramfs: %w", err)
	}
	fmt.Fprintf(c.Stdout, "built %s in %.1fs\n", path, time.Since(start).Seconds())
	prune(c.CacheDir, "initramfs-*.cpio", path)
	return path, load, nil
}

func buildInitramfs(path, root string, mods []moduleFile, tools []tool) error {
	recs, err := cpio.ReadAllRecords(uimage.DefaultRamfs().Reader())
	if err != nil {
		return err
	}
	recs = append(recs,
		cpio.StaticFile("etc/passwd", passwd, 0o644),
		cpio.StaticFile("etc/group", group, 0o644),
	)
	for _, m := range mods {
		recs = append(recs, cpio.StaticFile(m.name, string(m.data), 0o644))
	}
	base, err := cpio.ArchiveFromRecords(recs)
	if err != nil {
		return err
	}
	var files []string
	for _, t := range tools {
		files = append(files, t.src+":"+t.dst)
	}

	tmp, err := os.MkdirTemp(filepath.Dir(path), "build-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "initramfs.cpio")
	var log strings.Builder
	l := llog.New(slog.LevelWarn, llog.WritePrintf(&log))
	err = uimage.Create(l,
		uimage.WithReplaceEnv(golang.Default(
			golang.DisableCGO(),
			golang.WithGOARCH("amd64"),
			golang.WithWorkingDir(root),
		)),
		uimage.WithBusyboxCommands("github.com/u-root/u-root/cmds/core/init", guestInitPkg),
		uimage.WithInit("init"),
		uimage.WithUinit("nflab-guestinit"),
		uimage.WithBaseArchive(base),
		uimage.WithFiles(files...),
		uimage.WithTempDir(tmp),
		uimage.WithCPIOOutput(out),
	)
	if err != nil {
		return fmt.Errorf("%w\n%s", err, log.String())
	}
	return os.Rename(out, path)
}

type tool struct{ src, dst string }

// findTools locates hostTools. busybox goes to /bin/busybox, dash to
// /bin/sh, the others to their real path.
func findTools() ([]tool, error) {
	var out []tool
	var errs []error
	for _, t := range hostTools {
		p, err := lookTool(t.name)
		if err != nil {
			if t.required {
				errs = append(errs, err)
			}
			continue
		}
		dst := strings.TrimPrefix(p, "/")
		switch t.name {
		case "busybox":
			dst = "bin/busybox"
		case "dash":
			dst = "bin/sh"
		}
		out = append(out, tool{p, dst})
	}
	return out, errors.Join(errs...)
}

// lookTool finds a host binary by name in PATH and the sbin directories,
// with symlinks resolved.
func lookTool(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		for _, d := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
			if _, serr := os.Stat(filepath.Join(d, name)); serr == nil {
				p, err = filepath.Join(d, name), nil
				break
			}
		}
	}
	if err != nil {
		return "", fmt.Errorf("%s is needed in the guest image but is not installed on this host", name)
	}
	return filepath.EvalSymlinks(p)
}

func goVersion(root string) string {
	cmd := exec.Command("go", "env", "GOVERSION")
	cmd.Dir = root
	out, _ := cmd.Output()
	return strings.TrimSpace(string(out))
}

// hashFile adds name and the contents of path to h.
func hashFile(h hash.Hash, name, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	fmt.Fprintf(h, "%s\x00%d\x00", name, fi.Size())
	_, err = io.Copy(h, f)
	return err
}

// hashTree adds the files under root/dir to h, named relative to root so
// that checkouts in different places share the cache.
func hashTree(h hash.Hash, root, dir string) error {
	return filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		return hashFile(h, rel, p)
	})
}
