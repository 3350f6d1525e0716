//go:build linux

package fakemod

import (
	"fmt"
	"slices"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
	"golang.org/x/sys/unix"
)

// admin lists the commands that need CAP_NET_ADMIN.
var admin = map[uint8]bool{
	nlproto.CMD_RESET_HOOK_STATS: true, nlproto.CMD_CT_GET: true, nlproto.CMD_CT_DELETE: true,
	nlproto.CMD_CT_FLUSH: true, nlproto.CMD_CT_SET_CONFIG: true, nlproto.CMD_CT_GC: true,
	nlproto.CMD_RULES_BEGIN: true, nlproto.CMD_RULES_COMMIT: true, nlproto.CMD_RULES_ABORT: true,
	nlproto.CMD_CHAIN_NEW: true, nlproto.CMD_CHAIN_DEL: true, nlproto.CMD_CHAIN_POLICY: true,
	nlproto.CMD_CHAIN_GET: true, nlproto.CMD_RULE_NEW: true, nlproto.CMD_RULE_DEL: true,
	nlproto.CMD_RULE_REPLACE: true, nlproto.CMD_RULE_GET: true, nlproto.CMD_RULE_RESET: true,
	nlproto.CMD_SET_NEW: true, nlproto.CMD_SET_DEL: true, nlproto.CMD_SET_ADD_ELEMS: true,
	nlproto.CMD_SET_FLUSH: true, nlproto.CMD_SET_GET: true,
	nlproto.CMD_TRACE_NEW: true, nlproto.CMD_TRACE_DEL: true, nlproto.CMD_TRACE_GET: true,
}

// allowed lists the attributes each command takes; strict validation
// rejects any other.
var allowed = map[uint8][]uint16{
	nlproto.CMD_CT_GET:        {nlproto.A_CT_TUPLE, nlproto.A_CT_FILTER},
	nlproto.CMD_CT_DELETE:     {nlproto.A_CT_TUPLE, nlproto.A_CT_FILTER},
	nlproto.CMD_CT_FLUSH:      {nlproto.A_CT_FILTER},
	nlproto.CMD_CT_SET_CONFIG: {nlproto.A_CT_CONFIG},
	nlproto.CMD_RULES_BEGIN:   {nlproto.A_RULES_FLAGS, nlproto.A_RULES_GEN},
	nlproto.CMD_RULES_COMMIT:  {nlproto.A_RULES_FLAGS},
	nlproto.CMD_CHAIN_NEW:     {nlproto.A_CHAIN},
	nlproto.CMD_CHAIN_DEL:     {nlproto.A_CHAIN},
	nlproto.CMD_CHAIN_POLICY:  {nlproto.A_CHAIN},
	nlproto.CMD_RULE_NEW:      {nlproto.A_RULE},
	nlproto.CMD_RULE_DEL:      {nlproto.A_RULE},
	nlproto.CMD_RULE_REPLACE:  {nlproto.A_RULE},
	nlproto.CMD_RULE_GET:      {nlproto.A_RULE},
	nlproto.CMD_RULE_RESET:    {nlproto.A_RULE},
	nlproto.CMD_SET_NEW:       {nlproto.A_SET},
	nlproto.CMD_SET_DEL:       {nlproto.A_SET},
	nlproto.CMD_SET_ADD_ELEMS: {nlproto.A_SET},
	nlproto.CMD_SET_FLUSH:     {nlproto.A_SET},
	nlproto.CMD_SET_GET:       {nlproto.A_SET, nlproto.A_RULES_FLAGS},
	nlproto.CMD_TRACE_NEW:     {nlproto.A_TRACE},
	nlproto.CMD_TRACE_DEL:     {nlproto.A_TRACE},
}

// handle answers one request with the datagrams the kernel would send, or
// nil to leave it unanswered.
func (m *Module) handle(req netlink.Message) [][]netlink.Message {
	var g genetlink.Message
	if err := g.UnmarshalBinary(req.Data); err != nil {
		return fails(req, unix.EINVAL, "")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch req.Header.Type {
	case unix.GENL_ID_CTRL:
		return m.family(req, g)
	case FamilyID:
		if m.unloaded {
			return fails(req, unix.ENOENT, "")
		}
	default:
		return fails(req, unix.ENOENT, "")
	}
	cmd := g.Header.Command
	m.requests[cmd]++
	if m.stall[cmd] {
		return nil
	}
	if f, ok := m.fail[cmd]; ok {
		return fails(req, f.errno, f.msg)
	}
	if cmd < 1 || cmd > nlproto.CMD_MAX || isEvent(cmd) || m.missing(cmd) {
		return fails(req, unix.EOPNOTSUPP, "")
	}
	if admin[cmd] && m.opts.Unprivileged {
		return fails(req, unix.EPERM, "")
	}
	attrs := map[uint16][]byte{}
	ad, err := netlink.NewAttributeDecoder(g.Data)
	if err != nil {
		return fails(req, unix.EINVAL, "")
	}
	for ad.Next() {
		if !slices.Contains(allowed[cmd], ad.Type()) {
			return fails(req, unix.EINVAL, fmt.Sprintf("Unknown attribute type %d", ad.Type()))
		}
		attrs[ad.Type()] = ad.Bytes()
	}
	if ad.Err() != nil {
		return fails(req, unix.EINVAL, "")
	}

	if slices.Contains(traceCmds, cmd) {
		return m.handleTraces(req, cmd, attrs)
	}
	if cmd >= nlproto.CMD_RULES_BEGIN {
		return m.handleRules(req, cmd, attrs)
	}
	ae := netlink.NewAttributeEncoder()
	ack := false
	switch cmd {
	case nlproto.CMD_GET_VERSION:
		v, c := m.protocol()
		ae.String(nlproto.A_VERSION, Version)
		ae.Uint32(nlproto.A_PROTO_VERSION, v)
		if !m.opts.NoCompat {
			ae.Uint32(nlproto.A_PROTO_COMPAT, c)
		}
	case nlproto.CMD_GET_HOOK_STATS:
		ae.Nested(nlproto.A_HOOKS, func(nae *netlink.AttributeEncoder) error {
			for _, h := range m.hooks {
				nae.Nested(nlproto.A_HOOK, func(hae *netlink.AttributeEncoder) error {
					hae.Uint32(nlproto.HOOK_A_HOOKNUM, uint32(h.Hook))
					hae.Uint64(nlproto.HOOK_A_PACKETS, h.Packets)
					hae.Uint64(nlproto.HOOK_A_BYTES, h.Bytes)
					if d := h.Drops; d != nil && m.hasTraces() {
						hae.Uint64(nlproto.HOOK_A_DROP_RULE, d.Rule)
						hae.Uint64(nlproto.HOOK_A_DROP_INVALID, d.Invalid)
						hae.Uint64(nlproto.HOOK_A_DROP_FULL, d.Full)
						hae.Uint64(nlproto.HOOK_A_DROP_NAT, d.NAT)
						if h.Hook.HasUnseenAfter() {
							hae.Uint64(nlproto.HOOK_A_UNSEEN_AFTER, d.UnseenAfter)
						}
					}
					m.extra(hae, nlproto.HOOK_A_MAX+1)
					return nil
				})
			}
			m.extra(nae, nlproto.A_MAX+1)
			return nil
		})
	case nlproto.CMD_RESET_HOOK_STATS:
		for h := range m.hooks {
			m.hooks[h].Packets, m.hooks[h].Bytes = 0, 0
			if m.hooks[h].Drops != nil {
				m.hooks[h].Drops = &nftypes.HookDrops{}
			}
		}
		ack = true
	case nlproto.CMD_CT_GET:
		if req.Header.Flags&netlink.Dump == netlink.Dump {
			return m.dump(req, attrs)
		}
		b, ok := attrs[nlproto.A_CT_TUPLE]
		if !ok {
			return fails(req, unix.EINVAL, "Missing attribute: NFLAB_A_CT_TUPLE")
		}
		t, err := decodeTuple(b)
		if err != nil {
			return rejects(req, err)
		}
		i := m.find(t)
		if i < 0 {
			return fails(req, unix.ENOENT, "")
		}
		m.encodeConn(ae, m.conns[i], true)
	case nlproto.CMD_CT_DELETE, nlproto.CMD_CT_FLUSH:
		tb, hasTuple := attrs[nlproto.A_CT_TUPLE]
		fb, hasFilter := attrs[nlproto.A_CT_FILTER]
		var n uint32
		switch {
		case hasTuple && hasFilter:
			return fails(req, unix.EINVAL, "tuple and filter are exclusive")
		case hasTuple:
			t, err := decodeTuple(tb)
			if err != nil {
				return rejects(req, err)
			}
			i := m.find(t)
			if i < 0 {
				return fails(req, unix.ENOENT, "")
			}
			m.remove(func(c nftypes.Conn) bool { return c.ID == m.conns[i].ID })
			n = 1
		case hasFilter:
			f, err := decodeFilter(fb)
			if err != nil {
				return rejects(req, err)
			}
			n = m.remove(f.Match)
		case cmd == nlproto.CMD_CT_DELETE:
			return fails(req, unix.EINVAL, "CT_DELETE needs a tuple or a filter")
		default:
			n = m.remove(func(nftypes.Conn) bool { return true })
		}
		ae.Uint32(nlproto.A_CT_COUNT, n)
	case nlproto.CMD_CT_COUNT:
		ae.Uint32(nlproto.A_CT_COUNT, uint32(len(m.conns)))
		ae.Uint32(nlproto.A_CT_LIMIT, *m.cfg.Limit)
	case nlproto.CMD_CT_STATS:
		m.encodeStats(ae, m.stats)
	case nlproto.CMD_CT_GET_CONFIG:
		m.encodeConfig(ae, m.cfg)
	case nlproto.CMD_CT_SET_CONFIG:
		b, ok := attrs[nlproto.A_CT_CONFIG]
		if !ok {
			return fails(req, unix.EINVAL, "Missing attribute: NFLAB_A_CT_CONFIG")
		}
		cfg := cloneConfig(m.cfg)
		if err := decodeConfig(b, &cfg); err != nil {
			return rejects(req, err)
		}
		m.cfg = cfg
		ack = true
	case nlproto.CMD_CT_GC:
		ae.Uint32(nlproto.A_CT_COUNT, m.remove(func(c nftypes.Conn) bool { return c.Timeout <= 0 }))
	}
	if ack {
		if req.Header.Flags&netlink.Acknowledge == 0 {
			return [][]netlink.Message{}
		}
		return [][]netlink.Message{{errorMessage(req, 0, "")}}
	}
	m.extra(ae, nlproto.A_MAX+1)
	b, err := ae.Encode()
	if err != nil {
		panic(err)
	}
	dg := []netlink.Message{genlMessage(cmd, b, 0, req.Header.Sequence, req.Header.PID)}
	if req.Header.Flags&netlink.Acknowledge != 0 {
		dg = append(dg, errorMessage(req, 0, ""))
	}
	return [][]netlink.Message{dg}
}

// dump answers a CT_GET dump in two datagrams, as a reader with a small
// buffer would get it.
func (m *Module) dump(req netlink.Message, attrs map[uint16][]byte) [][]netlink.Message {
	match := func(nftypes.Conn) bool { return true }
	if b, ok := attrs[nlproto.A_CT_FILTER]; ok {
		f, err := decodeFilter(b)
		if err != nil && err != errEmptyFilter {
			return rejects(req, err)
		}
		match = f.Match
	}
	flags := netlink.Multi
	if m.intr > 0 {
		m.intr--
		flags |= netlink.DumpInterrupted
	}
	var msgs []netlink.Message
	for _, c := range m.conns {
		if !match(c) {
			continue
		}
		ae := netlink.NewAttributeEncoder()
		m.encodeConn(ae, c, false) // a dump carries no history
		m.extra(ae, nlproto.A_MAX+1)
		b, err := ae.Encode()
		if err != nil {
			panic(err)
		}
		msgs = append(msgs, genlMessage(nlproto.CMD_CT_GET, b, flags, req.Header.Sequence, req.Header.PID))
	}
	done := netlink.Message{
		Header: netlink.Header{Length: 20, Type: netlink.Done, Flags: flags, Sequence: req.Header.Sequence, PID: req.Header.PID},
		Data:   make([]byte, 4),
	}
	half := len(msgs) / 2
	if half == 0 {
		return [][]netlink.Message{append(msgs, done)}
	}
	return [][]netlink.Message{msgs[:half], append(msgs[half:], done)}
}

// isEvent reports whether cmd is a notification's, not a request's.
func isEvent(cmd uint8) bool {
	return cmd >= nlproto.CMD_CT_EVENT_NEW && cmd <= nlproto.CMD_CT_EVENT_DESTROY || cmd == nlproto.CMD_TRACE_EVENT
}

// find returns the index of the entry with tuple t in either direction.
func (m *Module) find(t nftypes.Tuple) int {
	return slices.IndexFunc(m.conns, func(c nftypes.Conn) bool { return c.Orig == t || c.Reply == t })
}

// remove deletes the entries match selects, announces them and returns
// how many. m.mu is held.
func (m *Module) remove(match func(nftypes.Conn) bool) uint32 {
	var gone []nftypes.Conn
	m.conns = slices.DeleteFunc(m.conns, func(c nftypes.Conn) bool {
		if match(c) {
			gone = append(gone, c)
			return true
		}
		return false
	})
	for _, c := range gone {
		m.emitLocked(nftypes.EventDestroy, c)
	}
	return uint32(len(gone))
}

// family answers nlctrl's CTRL_CMD_GETFAMILY for "nflab".
func (m *Module) family(req netlink.Message, g genetlink.Message) [][]netlink.Message {
	if g.Header.Command != unix.CTRL_CMD_GETFAMILY {
		return fails(req, unix.EOPNOTSUPP, "")
	}
	ad, err := netlink.NewAttributeDecoder(g.Data)
	if err != nil {
		return fails(req, unix.EINVAL, "")
	}
	var name string
	for ad.Next() {
		if ad.Type() == unix.CTRL_ATTR_FAMILY_NAME {
			name = ad.String()
		}
	}
	if name != nlproto.GENL_NAME || m.unloaded {
		return fails(req, unix.ENOENT, "")
	}
	ae := netlink.NewAttributeEncoder()
	ae.Uint16(unix.CTRL_ATTR_FAMILY_ID, FamilyID)
	ae.String(unix.CTRL_ATTR_FAMILY_NAME, nlproto.GENL_NAME)
	ae.Uint32(unix.CTRL_ATTR_VERSION, nlproto.GENL_VERSION)
	ae.Nested(unix.CTRL_ATTR_OPS, func(nae *netlink.AttributeEncoder) error {
		var ops []uint32
		for cmd := uint8(1); cmd <= nlproto.CMD_MAX; cmd++ {
			if !isEvent(cmd) && !m.missing(cmd) {
				ops = append(ops, uint32(cmd))
			}
		}
		if m.opts.Next {
			ops = append(ops, nlproto.CMD_MAX+1)
		}
		for i, op := range ops {
			nae.Nested(uint16(i+1), func(oae *netlink.AttributeEncoder) error {
				oae.Uint32(unix.CTRL_ATTR_OP_ID, op)
				oae.Uint32(unix.CTRL_ATTR_OP_FLAGS, 0)
				return nil
			})
		}
		return nil
	})
	ae.Nested(unix.CTRL_ATTR_MCAST_GROUPS, func(nae *netlink.AttributeEncoder) error {
		nae.Nested(1, func(gae *netlink.AttributeEncoder) error {
			gae.String(unix.CTRL_ATTR_MCAST_GRP_NAME, nlproto.MCGRP_CT)
			gae.Uint32(unix.CTRL_ATTR_MCAST_GRP_ID, GroupID)
			return nil
		})
		if m.hasTraces() {
			nae.Nested(2, func(gae *netlink.AttributeEncoder) error {
				gae.String(unix.CTRL_ATTR_MCAST_GRP_NAME, nlproto.MCGRP_TRACE)
				gae.Uint32(unix.CTRL_ATTR_MCAST_GRP_ID, TraceGroupID)
				return nil
			})
		}
		return nil
	})
	b, err := ae.Encode()
	if err != nil {
		panic(err)
	}
	data := append([]byte{unix.CTRL_CMD_NEWFAMILY, 2, 0, 0}, b...)
	return [][]netlink.Message{{{
		Header: netlink.Header{Length: uint32(16 + len(data)), Type: unix.GENL_ID_CTRL, Sequence: req.Header.Sequence, PID: req.Header.PID},
		Data:   data,
	}}}
}
