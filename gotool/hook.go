package nflab

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/nflab/nflab/nlproto"
)

// A Hook is one of the five IPv4 netfilter hooks; the numbers are the
// kernel's (enum nf_inet_hooks), as the protocol carries them.
type Hook uint32

// The hooks, in the order a packet meets them.
const (
	PreRouting  Hook = nlproto.HOOK_PRE_ROUTING
	LocalIn     Hook = nlproto.HOOK_LOCAL_IN
	Forward     Hook = nlproto.HOOK_FORWARD
	LocalOut    Hook = nlproto.HOOK_LOCAL_OUT
	PostRouting Hook = nlproto.HOOK_POST_ROUTING
)

var hookNames = [...]string{
	PreRouting:  "PRE_ROUTING",
	LocalIn:     "LOCAL_IN",
	Forward:     "FORWARD",
	LocalOut:    "LOCAL_OUT",
	PostRouting: "POST_ROUTING",
}

// String returns the kernel's name for h, such as "PRE_ROUTING", or
// "Hook(7)" for a number this client does not know.
func (h Hook) String() string {
	if int(h) < len(hookNames) {
		return hookNames[h]
	}
	return "Hook(" + strconv.FormatUint(uint64(h), 10) + ")"
}

// MarshalText returns String, so JSON shows hook names, not numbers.
func (h Hook) MarshalText() ([]byte, error) {
	return []byte(h.String()), nil
}

// UnmarshalText accepts what MarshalText writes, ignoring case.
func (h *Hook) UnmarshalText(b []byte) error {
	s := string(b)
	for i, name := range hookNames {
		if strings.EqualFold(s, name) {
			*h = Hook(i)
			return nil
		}
	}
	if num, ok := strings.CutPrefix(s, "Hook("); ok {
		if num, ok := strings.CutSuffix(num, ")"); ok {
			if n, err := strconv.ParseUint(num, 10, 32); err == nil {
				*h = Hook(n)
				return nil
			}
		}
	}
	return fmt.Errorf("nflab: unknown hook %q", s)
}
