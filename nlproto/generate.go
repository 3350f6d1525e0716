// Package nlproto holds the numbers of the nflab generic netlink protocol.
//
// They are generated from nflab.h, the one definition that the kernel module
// compiles against, so Go and C cannot drift apart; edit the header and run
// "go generate ./nlproto", never zz_generated.go.
package nlproto

//go:generate go run ./internal/gen -in nflab.h -out zz_generated.go
