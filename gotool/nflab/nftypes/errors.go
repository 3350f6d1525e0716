package nftypes

import "fmt"

// A ValidationError says why a value cannot be sent to the module. The
// client returns it before sending anything; the Validate methods return
// it too.
type ValidationError struct {
	Field  string // what was invalid: "tuple", "filter", "config", "timeout", "watch", ...
	Reason string // why, for people
}

func (e *ValidationError) Error() string {
	return "nflab: " + e.Field + ": " + e.Reason
}

func invalid(field, reason string) error {
	return &ValidationError{Field: field, Reason: reason}
}

func invalidf(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
