//go:build linux

package nlclient

import (
	"fmt"

	"github.com/mdlayher/netlink"
	"github.com/nflab/nflab/nlproto"
)

// Decoding rule for every reply: attributes this client does not know come
// from a newer module and are skipped; a missing attribute the protocol
// promises is an error, never a silent zero.

func parseVersion(b []byte) (Version, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return Version{}, err
	}
	var (
		v    Version
		seen attrSet
	)
	for ad.Next() {
		switch t := ad.Type(); t {
		case nlproto.A_VERSION:
			v.Module = ad.String()
			seen.add(t)
		case nlproto.A_PROTO_VERSION:
			v.Protocol = ad.Uint32()
			seen.add(t)
		}
	}
	if err := ad.Err(); err != nil {
		return Version{}, err
	}
	if err := seen.require(
		attrName{nlproto.A_VERSION, "NFLAB_A_VERSION"},
		attrName{nlproto.A_PROTO_VERSION, "NFLAB_A_PROTO_VERSION"},
	); err != nil {
		return Version{}, err
	}
	return v, nil
}

func parseHookStats(b []byte) ([]HookStat, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return nil, err
	}
	var (
		stats []HookStat
		seen  attrSet
	)
	for ad.Next() {
		if ad.Type() != nlproto.A_HOOKS {
			continue
		}
		seen.add(nlproto.A_HOOKS)
		ad.Nested(func(nad *netlink.AttributeDecoder) error {
			for nad.Next() {
				if nad.Type() != nlproto.A_HOOK {
					continue
				}
				nad.Nested(func(hd *netlink.AttributeDecoder) error {
					s, err := parseHook(hd)
					if err != nil {
						return err
					}
					stats = append(stats, s)
					return nil
				})
			}
			return nil
		})
	}
	if err := ad.Err(); err != nil {
		return nil, err
	}
	if err := seen.require(attrName{nlproto.A_HOOKS, "NFLAB_A_HOOKS"}); err != nil {
		return nil, err
	}
	dup := make(map[uint32]bool)
	for _, s := range stats {
		if dup[s.Hook] {
			return nil, fmt.Errorf("hook %d reported twice", s.Hook)
		}
		dup[s.Hook] = true
	}
	return stats, nil
}

func parseHook(ad *netlink.AttributeDecoder) (HookStat, error) {
	var (
		s    HookStat
		seen attrSet
	)
	for ad.Next() {
		switch t := ad.Type(); t {
		case nlproto.HOOK_A_HOOKNUM:
			s.Hook = ad.Uint32()
			seen.add(t)
		case nlproto.HOOK_A_PACKETS:
			s.Packets = ad.Uint64()
			seen.add(t)
		case nlproto.HOOK_A_BYTES:
			s.Bytes = ad.Uint64()
			seen.add(t)
		}
	}
	// Checked here, before require, so a bad attribute is reported as
	// such and not as missing.
	if err := ad.Err(); err != nil {
		return HookStat{}, err
	}
	if err := seen.require(
		attrName{nlproto.HOOK_A_HOOKNUM, "NFLAB_HOOK_A_HOOKNUM"},
		attrName{nlproto.HOOK_A_PACKETS, "NFLAB_HOOK_A_PACKETS"},
		attrName{nlproto.HOOK_A_BYTES, "NFLAB_HOOK_A_BYTES"},
	); err != nil {
		return HookStat{}, fmt.Errorf("in NFLAB_A_HOOK: %w", err)
	}
	return s, nil
}

// attrSet records which attribute types (below 64) a reply carried.
type attrSet uint64

type attrName struct {
	typ  uint16
	name string
}

func (s *attrSet) add(t uint16) { *s |= 1 << t }

func (s attrSet) require(attrs ...attrName) error {
	for _, a := range attrs {
		if s&(1<<a.typ) == 0 {
			return fmt.Errorf("missing attribute %s", a.name)
		}
	}
	return nil
}
