package nftypes

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
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
