package ruletext

import (
	"bufio"
	"bytes"
	"io"

	"github.com/nflab/nflab/gotool/nflab/nftypes"
)

// ReadElems reads a set's elements from a list such as the CIDR lists of
// address registries and geoip databases: one element a line (an address,
// prefix or first-last range for addr; a port or range for port), blank
// lines and "#" comments ignored. file names it in errors. A million
// lines take well under a second.
func ReadElems(r io.Reader, file string, typ nftypes.SetType) (nftypes.Set, error) {
	s := nftypes.Set{Type: typ}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if i := bytes.IndexByte(b, '#'); i >= 0 {
			b = b[:i]
		}
		start := 0
		for start < len(b) && (b[start] == ' ' || b[start] == '\t') {
			start++
		}
		end := len(b)
		for end > start && (b[end-1] == ' ' || b[end-1] == '\t' || b[end-1] == '\r' || b[end-1] == ',') {
			end--
		}
		if start == end {
			continue
		}
		t := token{text: string(b[start:end]), file: file, line: line, col: start + 1}
		if bytes.ContainsAny(b[start:end], " \t") {
			return s, errAt(t, "one element a line: %q holds blanks", t.text)
		}
		if err := addElem(&s, t); err != nil {
			return s, err
		}
		if s.Len() > nftypes.MaxSetElems {
			return s, errAt(t, "more than %d elements", nftypes.MaxSetElems)
		}
	}
	if err := sc.Err(); err != nil {
		return s, &Error{File: file, Line: line + 1, Col: 1, Msg: "reading: " + err.Error()}
	}
	return s, nil
}
