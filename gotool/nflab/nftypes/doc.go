// Package nftypes holds the types of package nflab: the values the nflab
// module reports and takes, such as Conn (with its History of
// ConnChange), Tuple, ConnFilter and TrackerConfig, the rule engine's Ruleset, Chain, Rule, Match, Action
// and Set, and packet traces' TraceSpec, TraceSelector (with its pcap-like
// text, ParseTraceSelector), Trace and TraceEvent, with their names, their
// text and JSON forms and their validation. As wgctrl's wgtypes, it is one
// set of types shared by the public client and its internal netlink
// backend, which encodes and decodes them directly.
//
// Enumerations (Hook, Proto, TCPState, Timeout, ConnEventType, and the
// traces' TraceKind, TraceCT, TraceInvalid, TraceVerdict, TraceDropBy and
// Dir, in lower case) print their names; values this client does not
// know, sent by a newer module, print as numbers in text and JSON, and as
// "TypeName(N)" from String. Their Unmarshal methods accept names in any
// case, numbers and String's form.
//
// Validation errors are *ValidationError.
package nftypes
