package nftypes

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestHookNames(t *testing.T) {
	for h, want := range map[Hook]string{
		PreRouting:  "PRE_ROUTING",
		LocalIn:     "LOCAL_IN",
		Forward:     "FORWARD",
		LocalOut:    "LOCAL_OUT",
		PostRouting: "POST_ROUTING",
		Hook(7):     "Hook(7)",
	} {
		if got := h.String(); got != want {
			t.Errorf("Hook(%d).String() = %q, want %q", uint32(h), got, want)
		}
		var back Hook
		if err := back.UnmarshalText([]byte(want)); err != nil || back != h {
			t.Errorf("UnmarshalText(%q) = %d, %v; want %d", want, back, err, h)
		}
	}
}

func TestHookJSON(t *testing.T) {
	in := []HookStat{{Hook: LocalIn, Packets: 1, Bytes: 2}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if want := `[{"Hook":"LOCAL_IN","Packets":1,"Bytes":2}]`; string(b) != want {
		t.Fatalf("json = %s, want %s", b, want)
	}
	var out []HookStat
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, out); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
}

func TestHookUnmarshalErrors(t *testing.T) {
	for _, s := range []string{"", "PREROUTING", "Hook(x)", "Hook(1", "Hook(99999999999)"} {
		var h Hook
		if err := h.UnmarshalText([]byte(s)); err == nil {
			t.Errorf("UnmarshalText(%q) = %d, want error", s, h)
		}
	}
	var h Hook
	if err := h.UnmarshalText([]byte("post_routing")); err != nil || h != PostRouting {
		t.Errorf("UnmarshalText is case-sensitive: %d, %v", h, err)
	}
}
