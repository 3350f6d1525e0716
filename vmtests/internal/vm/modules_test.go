package vm

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ulikunitz/xz"
)

func TestKernelModules(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var xzKO bytes.Buffer
	w, err := xz.NewWriter(&xzKO)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("9p module"))
	w.Close()

	// 9p is compressed and depends on netfs; bridge is built in;
	// libcrc32c soft-depends on crc32c, an alias of crc32c_generic.
	write("kernel/fs/9p/9p.ko.xz", xzKO.Bytes())
	var dep strings.Builder
	dep.WriteString("kernel/fs/9p/9p.ko.xz: kernel/fs/netfs/netfs.ko\n")
	for _, m := range []string{"fs/netfs/netfs", "virtio_pci", "9pnet_virtio", "veth", "dummy", "nf_defrag_ipv4", "nf_reject_ipv4", "lib/ts_bm", "lib/ts_kmp", "nf_conntrack", "lib/libcrc32c", "crc32c_generic", "unused"} {
		write("kernel/"+m+".ko", []byte(m))
		if m != "fs/netfs/netfs" {
			dep.WriteString("kernel/" + m + ".ko:")
			if m == "nf_conntrack" {
				dep.WriteString(" kernel/lib/libcrc32c.ko")
			}
			dep.WriteString("\n")
		}
	}
	dep.WriteString("kernel/fs/netfs/netfs.ko:\n")
	write("modules.dep", []byte(dep.String()))
	write("modules.builtin", []byte("kernel/net/bridge/bridge.ko\n"))
	write("modules.alias", []byte("alias crc32c crc32c_generic\nalias pci:v* virtio_pci\nalias foo unused\n"))
	write("modules.softdep", []byte("# comment\nsoftdep libcrc32c pre: crc32c\n"))

	files, load, err := kernelModules(dir, "6.1.0-test")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(load, ","), "virtio_pci,9pnet_virtio,9p,veth,dummy,nf_defrag_ipv4,nf_reject_ipv4,ts_bm,ts_kmp"; got != want {
		t.Errorf("modules to load: %s, want %s", got, want)
	}
	got := map[string]string{}
	for _, f := range files {
		got[strings.TrimPrefix(f.name, "lib/modules/6.1.0-test/")] = string(f.data)
	}
	if got["kernel/fs/9p/9p.ko"] != "9p module" {
		t.Errorf("9p.ko not decompressed: %q", got["kernel/fs/9p/9p.ko"])
	}
	for _, m := range []string{"kernel/fs/netfs/netfs.ko", "kernel/crc32c_generic.ko", "kernel/lib/libcrc32c.ko"} {
		if _, ok := got[m]; !ok {
			t.Errorf("%s missing from the image", m)
		}
	}
	if _, ok := got["kernel/unused.ko"]; ok {
		t.Error("unused.ko is in the image")
	}
	if d := got["modules.dep"]; !strings.Contains(d, "kernel/fs/9p/9p.ko: kernel/fs/netfs/netfs.ko\n") || strings.Contains(d, ".xz") {
		t.Errorf("modules.dep not rewritten:\n%s", d)
	}
	if a := got["modules.alias"]; strings.Contains(a, "unused") || !strings.Contains(a, "alias crc32c crc32c_generic") {
		t.Errorf("modules.alias not filtered:\n%s", a)
	}
}
