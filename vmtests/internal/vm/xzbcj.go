package vm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/ulikunitz/xz/lzma"
)

// The kernel compresses vmlinux with xz's x86 BCJ filter in front of LZMA2
// (scripts/xz_wrap.sh), which github.com/ulikunitz/xz does not implement.
// unxzKernel reads the first block of an xz stream with either filter
// chain, using ulikunitz/xz's LZMA2 decoder. Checksums are not verified:
// the caller validates the result as an ELF file.

const (
	xzFilterX86   = 0x04
	xzFilterLZMA2 = 0x21
)

func unxzKernel(b []byte) ([]byte, error) {
	const streamHeaderLen = 12
	if len(b) < streamHeaderLen+2 || !bytes.HasPrefix(b, []byte("\xfd7zXZ\x00")) {
		return nil, errors.New("xz: no stream header")
	}
	b = b[streamHeaderLen:]
	hdrLen := (int(b[0]) + 1) * 4
	if b[0] == 0 || len(b) < hdrLen {
		return nil, errors.New("xz: no block")
	}
	hdr, data := b[1:hdrLen-4], b[hdrLen:] // without size byte and CRC32
	flags := hdr[0]
	hdr = hdr[1:]
	nFilters := int(flags&3) + 1
	for _, present := range []bool{flags&0x40 != 0, flags&0x80 != 0} { // sizes
		if present {
			if _, n := binary.Uvarint(hdr); n > 0 {
				hdr = hdr[n:]
			} else {
				return nil, errors.New("xz: bad block header")
			}
		}
	}
	var ids []uint64
	var dictProp byte
	for range nFilters {
		id, n := binary.Uvarint(hdr)
		if n <= 0 {
			return nil, errors.New("xz: bad filter flags")
		}
		hdr = hdr[n:]
		psize, n := binary.Uvarint(hdr)
		if n <= 0 || uint64(len(hdr)-n) < psize {
			return nil, errors.New("xz: bad filter properties")
		}
		props := hdr[n : n+int(psize)]
		hdr = hdr[n+int(psize):]
		switch {
		case id == xzFilterLZMA2 && psize == 1:
			dictProp = props[0]
		case id == xzFilterX86 && psize == 0:
		default:
			return nil, fmt.Errorf("xz: unsupported filter 0x%x with %d property bytes", id, psize)
		}
		ids = append(ids, id)
	}
	switch {
	case len(ids) == 1 && ids[0] == xzFilterLZMA2:
	case len(ids) == 2 && ids[0] == xzFilterX86 && ids[1] == xzFilterLZMA2:
	default:
		return nil, fmt.Errorf("xz: unsupported filter chain %x", ids)
	}
	if dictProp > 40 {
		return nil, errors.New("xz: bad LZMA2 dictionary size")
	}
	dict := 0xffffffff
	if dictProp < 40 {
		dict = (2 | int(dictProp&1)) << (dictProp/2 + 11)
	}
	r, err := lzma.Reader2Config{DictCap: min(dict, 1<<30)}.NewReader2(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(r, 1<<30))
	if err != nil {
		return nil, err
	}
	if len(ids) == 2 {
		unBCJx86(out)
	}
	return out, nil
}

// unBCJx86 undoes xz's x86 branch converter in place (start offset 0). It
// follows bcj_x86() of xz-embedded (lib/xz/xz_dec_bcj.c in the kernel).
func unBCJx86(buf []byte) {
	allowed := [8]bool{true, true, true, false, true, false, false, false}
	bitNum := [8]uint32{0, 1, 2, 2, 3, 3, 3, 3}
	msb := func(b byte) bool { return b == 0x00 || b == 0xff }
	if len(buf) <= 4 {
		return
	}
	size := len(buf) - 4
	prevPos := -1
	var prevMask uint32
	for i := 0; i < size; i++ {
		if buf[i]&0xfe != 0xe8 {
			continue
		}
		d := i - prevPos
		if d > 3 {
			prevMask = 0
		} else {
			prevMask = (prevMask << (d - 1)) & 7
			if prevMask != 0 {
				b := buf[i+4-int(bitNum[prevMask])]
				if !allowed[prevMask] || msb(b) {
					prevPos = i
					prevMask = prevMask<<1 | 1
					continue
				}
			}
		}
		prevPos = i
		if !msb(buf[i+4]) {
			prevMask = prevMask<<1 | 1
			continue
		}
		src := binary.LittleEndian.Uint32(buf[i+1:])
		var dest uint32
		for {
			dest = src - uint32(i+5)
			if prevMask == 0 {
				break
			}
			j := bitNum[prevMask] * 8
			if !msb(byte(dest >> (24 - j))) {
				break
			}
			src = dest ^ (1<<(32-j) - 1)
		}
		dest &= 0x01ffffff
		dest |= -(dest & 0x01000000)
		binary.LittleEndian.PutUint32(buf[i+1:], dest)
		i += 4
	}
}
