package nftypes

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/nflab/nflab/nlproto"
)

// Enumerations (Hook, Proto, TCPState, Timeout, ConnEventType) print their
// names, and numbers for values this client does not know: a newer module
// may send them. Text and JSON never show Go syntax such as "TCPState(12)";
// String, written for people, does.

// enumText returns name, or n in decimal when name is "" (unknown).
func enumText(name string, n uint64) []byte {
	if name == "" {
		return strconv.AppendUint(nil, n, 10)
	}
	return []byte(name)
}

// enumJSON returns name as a JSON string, or n as a JSON number when name
// is "" (unknown).
func enumJSON(name string, n uint64) ([]byte, error) {
	if name == "" {
		return strconv.AppendUint(nil, n, 10), nil
	}
	return json.Marshal(name)
}

// parseEnumNumber parses what enumText writes for an unknown value, "12",
// and what String writes, "TypeName(12)".
func parseEnumNumber(s, typeName string, bits int) (uint64, bool) {
	if num, ok := strings.CutPrefix(s, typeName+"("); ok {
		if s, ok = strings.CutSuffix(num, ")"); !ok {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, bits)
	return n, err == nil
}

// unmarshalEnumJSON accepts a JSON number, or a JSON string for text.
func unmarshalEnumJSON(b []byte, bits int, setNum func(uint64), text func([]byte) error) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		return text([]byte(s))
	}
	n, err := strconv.ParseUint(string(b), 10, bits)
	if err != nil {
		return &ValidationError{Field: "json", Reason: "want a name or a number, not " + string(b)}
	}
	setNum(n)
	return nil
}

// nameTable returns the names of enum e of nflab.h indexed by value, the
// Short names or, with lower, their lower-case forms; skip leaves out
// members such as UNSPEC (their slots stay ""). The enum's values must be
// small and non-negative: the tables are indexed by them.
func nameTable(e nlproto.Enum, lower bool, skip ...string) []string {
	var names []string
	for _, n := range e.Names {
		if n.Value < 0 || n.Value > 255 {
			panic(fmt.Sprintf("nftypes: %s: value %d does not index a name table", n.C, n.Value))
		}
		for int64(len(names)) <= n.Value {
			names = append(names, "")
		}
		name := n.Short
		if lower {
			name = n.Lower()
		}
		for _, sk := range skip {
			if n.Short == sk {
				name = ""
			}
		}
		names[n.Value] = name
	}
	return names
}

// parseEnum reads an enumeration from text: a name of names in any case
// (its index is the value; "" slots never match), or a number as
// parseEnumNumber reads it.
func parseEnum(s string, names []string, typeName string, bits int) (uint64, bool) {
	for i, name := range names {
		if name != "" && strings.EqualFold(s, name) {
			return uint64(i), true
		}
	}
	return parseEnumNumber(s, typeName, bits)
}
