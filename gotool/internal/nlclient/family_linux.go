//go:build linux

package nlclient

import (
	"fmt"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"github.com/nflab/nflab/nlproto"
	"golang.org/x/sys/unix"
)

// A family is what nlctrl reports about the nflab family. genetlink's
// GetFamily leaves out the operations, which tell which commands the
// module has.
type family struct {
	genetlink.Family
	ops map[uint8]bool // the commands listed in CTRL_ATTR_OPS; nil if none
}

// getFamily asks nlctrl on conn about the nflab family.
func getFamily(conn *genetlink.Conn) (family, error) {
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.CTRL_ATTR_FAMILY_NAME, nlproto.GENL_NAME)
	b, err := ae.Encode()
	if err != nil {
		return family{}, err
	}
	req := genetlink.Message{
		Header: genetlink.Header{Command: unix.CTRL_CMD_GETFAMILY, Version: 1},
		Data:   b,
	}
	msgs, err := conn.Execute(req, unix.GENL_ID_CTRL, netlink.Request)
	if err != nil {
		return family{}, err
	}
	if len(msgs) != 1 {
		return family{}, fmt.Errorf("nlctrl: got %d replies to a family lookup, want 1", len(msgs))
	}
	return parseFamily(msgs[0].Data)
}

func parseFamily(b []byte) (family, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return family{}, err
	}
	var f family
	for ad.Next() {
		switch ad.Type() {
		case unix.CTRL_ATTR_FAMILY_ID:
			f.ID = ad.Uint16()
		case unix.CTRL_ATTR_FAMILY_NAME:
			f.Name = ad.String()
		case unix.CTRL_ATTR_VERSION:
			f.Version = uint8(ad.Uint32())
		case unix.CTRL_ATTR_MCAST_GROUPS:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					nad.Nested(func(gad *netlink.AttributeDecoder) error {
						var g genetlink.MulticastGroup
						for gad.Next() {
							switch gad.Type() {
							case unix.CTRL_ATTR_MCAST_GRP_NAME:
								g.Name = gad.String()
							case unix.CTRL_ATTR_MCAST_GRP_ID:
								g.ID = gad.Uint32()
							}
						}
						f.Groups = append(f.Groups, g)
						return nil
					})
				}
				return nil
			})
		case unix.CTRL_ATTR_OPS:
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					nad.Nested(func(oad *netlink.AttributeDecoder) error {
						for oad.Next() {
							if oad.Type() == unix.CTRL_ATTR_OP_ID {
								if f.ops == nil {
									f.ops = make(map[uint8]bool)
								}
								if id := oad.Uint32(); id <= 0xff {
									f.ops[uint8(id)] = true
								}
							}
						}
						return nil
					})
				}
				return nil
			})
		}
	}
	if err := ad.Err(); err != nil {
		return family{}, err
	}
	return f, nil
}
