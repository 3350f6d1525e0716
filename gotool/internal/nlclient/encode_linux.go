//go:build linux

package nlclient

import (
	"github.com/mdlayher/genetlink"
	"github.com/nflab/nflab/nlproto"
)

// request builds the message for cmd. No nflab command takes attributes
// yet, and the kernel rejects any it does not expect.
func request(cmd uint8) genetlink.Message {
	return genetlink.Message{
		Header: genetlink.Header{
			Command: cmd,
			Version: nlproto.GENL_VERSION,
		},
	}
}
