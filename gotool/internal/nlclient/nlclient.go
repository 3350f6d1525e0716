// Package nlclient speaks the nflab generic netlink protocol (nlproto) on
// Linux. Package nflab wraps it in the public API. It encodes and decodes
// the types of package nftypes directly; the errors it returns are
// defined here and re-exported by package nflab under the same names.
package nlclient

import (
	"errors"
	"strconv"
	"syscall"
)

// ErrNotLoaded is returned when the "nflab" generic netlink family is not
// registered, which means the kernel module is not loaded, or when it
// goes away while the client uses it.
var ErrNotLoaded = errors.New("nflab: kernel module not loaded")

// ErrDumpInterrupted is returned by a dump that the kernel flagged as
// inconsistent (NLM_F_DUMP_INTR) on every one of its attempts.
var ErrDumpInterrupted = errors.New("nflab: dump interrupted: the table kept changing during the dump (NLM_F_DUMP_INTR)")

// An OpError is the failure of one operation on the module. Err is what
// failed it: a syscall.Errno when the kernel refused the request (so that
// errors.Is(err, os.ErrNotExist) and errors.Is(err, unix.ENOENT) hold for
// a missing entry, os.ErrPermission and unix.EPERM without CAP_NET_ADMIN),
// errors.ErrUnsupported for a command the module does not have, a context
// error when the caller's context ended the operation, net.ErrClosed after
// Close, or another error for a malformed reply or a socket failure.
// Message is the kernel's extended ACK text, if it sent one, or, when the
// client refused the operation before sending it (a command the module
// lacks, NAT for a module without it), the client's reason.
type OpError struct {
	Op      string // what was attempted, such as "dump connections"
	Err     error
	Message string // the kernel's extended ACK message, the client's reason for refusing, or ""
}

func (e *OpError) Error() string {
	s := "nflab: " + e.Op + ": " + errText(e.Err)
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Unwrap returns Err.
func (e *OpError) Unwrap() error { return e.Err }

func errText(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) && err == error(errno) {
		if errno == syscall.ENOENT {
			// Not "no such file or directory".
			return "no such entry"
		}
	}
	if errors.Is(err, errors.ErrUnsupported) {
		return "the module does not support this operation"
	}
	return err.Error()
}

// ErrTxDone is returned by the methods of a Tx that has ended: committed,
// aborted, or lost with its socket.
var ErrTxDone = errors.New("nflab: transaction has already ended")

// A ChangeError is the failure of one change of a batch sent in a
// transaction: the first change, in the order sent, that the module
// rejected. Index and Kind say which one it was in the caller's request,
// such as the rule Ruleset.Rules[Index] for Kind "rules"; Err is the
// *OpError with the kernel's errno and extended ACK message (package
// nflab also returns one for a change it refuses before sending anything,
// with its reason as the Message).
type ChangeError struct {
	Kind  ChangeKind // the Ruleset field the change came from
	Index int        // the change's index in that list, from 0
	Name  string     // what it names, such as "filter/forward" or a set's name
	Err   error
}

// A ChangeKind names the field of a Ruleset a change came from.
type ChangeKind string

// The kinds of change.
const (
	ChangeChains ChangeKind = "chains" // Ruleset.Chains: a chain or a built-in chain's policy
	ChangeSets   ChangeKind = "sets"   // Ruleset.Sets: a set or a slice of its elements
	ChangeRules  ChangeKind = "rules"  // Ruleset.Rules
)

func (e *ChangeError) Error() string {
	s := errText(e.Err)
	var oe *OpError
	if errors.As(e.Err, &oe) {
		s = oe.Error()
	}
	return s + " [" + string(e.Kind) + "[" + strconv.Itoa(e.Index) + "] " + e.Name + "]"
}

// Unwrap returns Err.
func (e *ChangeError) Unwrap() error { return e.Err }
