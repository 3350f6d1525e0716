// Package vmshare holds the names the host harness (internal/vm) and the
// guest init (cmd/nflab-guestinit) agree on. It must stay free of
// dependencies: it is compiled into the initramfs.
package vmshare

// The run directory shared with the guest over 9p.
const (
	// Tag is the 9p mount tag of the run directory.
	Tag = "nflab"
	// MountPoint is where the guest mounts the run directory.
	MountPoint = "/mnt/nflab"
	// ScriptTag is the 9p mount tag of the optional script directory,
	// which the guest mounts at the same absolute path as on the host.
	ScriptTag = "script"
)

// Files in the run directory.
const (
	ConfigFile  = "guest.json" // Config, written by the host
	PayloadFile = "run.sh"     // the payload, run with sh
	KOFile      = "nflab.ko"   // the module under test
	BinDir      = "bin"        // prepended to PATH in the guest
	StatusFile  = "status"     // payload exit status, written last by the guest
	DmesgFile   = "dmesg"      // kernel log, streamed by the guest
	TaintedFile = "tainted"    // /proc/sys/kernel/tainted after the payload
	LeaksFile   = "kmemleak"   // kmemleak's report after the payload, if it has one
)

// GuestEnv is set to "1" in the payload's environment.
const GuestEnv = "NFLAB_GUEST"

// CmdlineMarker is on the guest kernel's command line.
const CmdlineMarker = "nflabvm=1"

// Config is the guest init's configuration, stored as JSON in ConfigFile.
type Config struct {
	// ScriptDir, when set, is shared with ScriptTag and mounted at this
	// path in the guest.
	ScriptDir string `json:"script_dir,omitempty"`
	// Env is added to the payload's environment.
	Env map[string]string `json:"env,omitempty"`
}
