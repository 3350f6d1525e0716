package vm

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// bzImageRelease returns the kernel release recorded in a bzImage's setup
// header ("6.1.0-56-amd64" of "6.1.0-56-amd64 (debian-kernel@…) #1 …").
func bzImageRelease(img []byte) (string, error) {
	// See Documentation/arch/x86/boot.rst: "HdrS" at 0x202, and at 0x20e
	// the offset of the version string minus 0x200.
	if len(img) < 0x210 || string(img[0x202:0x206]) != "HdrS" {
		return "", errors.New("not a bzImage (no HdrS setup header)")
	}
	off := int(binary.LittleEndian.Uint16(img[0x20e:])) + 0x200
	if off >= len(img) {
		return "", errors.New("bzImage version offset out of range")
	}
	v, _, _ := bytes.Cut(img[off:], []byte{0})
	f := strings.Fields(string(v))
	if len(f) == 0 {
		return "", errors.New("bzImage has an empty version string")
	}
	return f[0], nil
}

// bootKernel returns the kernel file QEMU should boot: the uncompressed
// vmlinux extracted from the bzImage (PVH boot, a few seconds faster under
// TCG), cached in cacheDir, or the bzImage itself when that fails.
func bootKernel(bzImage []byte, bzPath, cacheDir string, logf func(string, ...any)) string {
	sum := sha256.Sum256(bzImage)
	path := filepath.Join(cacheDir, "vmlinux-"+hex.EncodeToString(sum[:8]))
	if _, err := os.Stat(path); err == nil {
		touch(path)
		return path
	}
	vmlinux, err := extractVmlinux(bzImage)
	if err == nil {
		err = writeFileAtomic(path, vmlinux, 0o644)
	}
	if err != nil {
		logf("booting the bzImage: no PVH vmlinux: %v", err)
		return bzPath
	}
	return path
}

// extractVmlinux finds the compressed vmlinux inside a bzImage (as the
// kernel's scripts/extract-vmlinux does) and returns it if it is an ELF
// file with a PVH entry point.
func extractVmlinux(img []byte) ([]byte, error) {
	formats := []struct {
		magic []byte
		open  func(io.Reader) (io.Reader, error)
	}{
		{[]byte{0xfd, '7', 'z', 'X', 'Z', 0}, func(r io.Reader) (io.Reader, error) {
			b, err := io.ReadAll(r)
			if err != nil {
				return nil, err
			}
			out, err := unxzKernel(b)
			return bytes.NewReader(out), err
		}},
		{[]byte{0x28, 0xb5, 0x2f, 0xfd}, func(r io.Reader) (io.Reader, error) {
			d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
			if err != nil {
				return nil, err
			}
			return d.IOReadCloser(), nil
		}},
		{[]byte{0x1f, 0x8b, 0x08}, func(r io.Reader) (io.Reader, error) {
			z, err := gzip.NewReader(r)
			if err != nil {
				return nil, err
			}
			z.Multistream(false)
			return z, nil
		}},
	}
	var errs []error
	for _, f := range formats {
		for off, n := 0, 0; n < 8; n++ {
			i := bytes.Index(img[off:], f.magic)
			if i < 0 {
				break
			}
			off += i
			out, err := decompress(img[off:], f.open)
			if err == nil {
				err = checkPVH(out)
			}
			if err == nil {
				return out, nil
			}
			errs = append(errs, fmt.Errorf("at offset %d: %w", off, err))
			off++
		}
	}
	if len(errs) == 0 {
		return nil, errors.New("no xz, zstd or gzip payload found")
	}
	return nil, errors.Join(errs...)
}

func decompress(b []byte, open func(io.Reader) (io.Reader, error)) ([]byte, error) {
	r, err := open(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	// Decompressors may report trailing garbage after the stream; keep
	// what was decoded if it is a whole ELF file (checked by the caller).
	out, err := io.ReadAll(io.LimitReader(r, 512<<20))
	if len(out) >= 4 && string(out[:4]) == elf.ELFMAG {
		return out, nil
	}
	if err == nil {
		err = errors.New("payload is not an ELF file")
	}
	return nil, err
}

// checkPVH reports whether vmlinux is an x86-64 ELF file with the
// XEN_ELFNOTE_PHYS32_ENTRY note QEMU needs to boot it directly.
func checkPVH(vmlinux []byte) error {
	f, err := elf.NewFile(bytes.NewReader(vmlinux))
	if err != nil {
		return err
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		return fmt.Errorf("vmlinux is for %v", f.Machine)
	}
	const xenElfnotePhys32Entry = 18
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		b, err := io.ReadAll(p.Open())
		if err != nil {
			return err
		}
		for len(b) >= 12 {
			nameSz := int(binary.LittleEndian.Uint32(b))
			descSz := int(binary.LittleEndian.Uint32(b[4:]))
			typ := binary.LittleEndian.Uint32(b[8:])
			name := b[12:min(len(b), 12+nameSz)]
			if typ == xenElfnotePhys32Entry && string(bytes.TrimRight(name, "\x00")) == "Xen" {
				return nil
			}
			next := 12 + align4(nameSz) + align4(descSz)
			if next > len(b) {
				break
			}
			b = b[next:]
		}
	}
	return errors.New("vmlinux has no PVH entry note (CONFIG_PVH is off)")
}

func align4(n int) int { return (n + 3) &^ 3 }
