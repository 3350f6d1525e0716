//go:build linux

package nlclient

import (
	"context"
	"fmt"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"github.com/nflab/nflab/gotool/nflab/nftypes"
	"github.com/nflab/nflab/nlproto"
)

// AddTrace starts a trace of s (TRACE_NEW) and returns it as the module
// reports it; ENOSPC beyond NFLAB_TRACES_MAX traces.
func (c *Client) AddTrace(ctx context.Context, s nftypes.TraceSpec) (nftypes.Trace, error) {
	const op = "add trace"
	req, err := requestAttrs(nlproto.CMD_TRACE_NEW, func(ae *netlink.AttributeEncoder) { encodeTraceSpec(ae, s) })
	if err != nil {
		return nftypes.Trace{}, wrapErr(op, err)
	}
	m, err := c.do(ctx, op, req)
	if err != nil {
		return nftypes.Trace{}, err
	}
	tr, err := parseTraceMsg(m.Data)
	if err != nil {
		return nftypes.Trace{}, malformed(op, err)
	}
	return tr, nil
}

// Traces dumps the traces of the namespace (TRACE_GET).
func (c *Client) Traces(ctx context.Context) ([]nftypes.Trace, error) {
	const op = "dump traces"
	msgs, err := c.dump(ctx, op, request(nlproto.CMD_TRACE_GET))
	if err != nil {
		return nil, err
	}
	trs := make([]nftypes.Trace, 0, len(msgs))
	for _, m := range msgs {
		tr, err := parseTraceMsg(m.Data)
		if err != nil {
			return nil, malformed(op, err)
		}
		trs = append(trs, tr)
	}
	return trs, nil
}

// DeleteTrace ends the trace id (TRACE_DEL); an *OpError wrapping ENOENT
// if the namespace has none.
func (c *Client) DeleteTrace(ctx context.Context, id uint32) error {
	const op = "delete trace"
	n, err := c.traceDel(ctx, op, func(ae *netlink.AttributeEncoder) { encodeTraceID(ae, id) })
	if err == nil && n != 1 {
		err = malformed(op, fmt.Errorf("%d traces ended, want 1", n))
	}
	return err
}

// DeleteTraces ends every trace of the namespace and returns how many.
func (c *Client) DeleteTraces(ctx context.Context) (uint32, error) {
	return c.traceDel(ctx, "delete traces", func(*netlink.AttributeEncoder) {})
}

// traceDel runs TRACE_DEL, which replies with NFLAB_A_TRACE_COUNT: like
// a read, one reply message and no ACK.
func (c *Client) traceDel(ctx context.Context, op string, encode func(*netlink.AttributeEncoder)) (uint32, error) {
	req, err := requestAttrs(nlproto.CMD_TRACE_DEL, encode)
	if err != nil {
		return 0, wrapErr(op, err)
	}
	m, err := c.do(ctx, op, req)
	if err != nil {
		return 0, err
	}
	n, err := parseTraceCount(m.Data)
	if err != nil {
		return 0, malformed(op, err)
	}
	return n, nil
}

// WatchTraces receives the notifications of the "trace" multicast group
// on a socket of its own, as WatchConns does those of "ct", and calls fn
// with each event, in the order received, and with a loss (a TraceLoss
// of no trace) for each ENOBUFS. listening, if not nil, runs once the
// socket listens, before the first receive. It returns as listen does.
func (c *Client) WatchTraces(ctx context.Context, readBuffer int, listening func() error, fn func(nftypes.TraceReport) error) error {
	conn, _, err := c.openSocket()
	if err != nil {
		return asOpError("watch traces", err)
	}
	defer conn.Close()
	return c.watchTraces(ctx, conn, readBuffer, listening, fn)
}

func (c *Client) watchTraces(ctx context.Context, conn *genetlink.Conn, readBuffer int, listening func() error, fn func(nftypes.TraceReport) error) error {
	return c.listen(ctx, conn, readBuffer, listener{
		group:     nlproto.MCGRP_TRACE,
		op:        "watch traces",
		missing:   "it predates packet traces (protocol 6)",
		recvOp:    "receive trace events",
		listening: listening,
		handle: func(m genetlink.Message, _ netlink.Message) error {
			if m.Header.Command != nlproto.CMD_TRACE_EVENT {
				return nil // a newer module's notification
			}
			ev, err := parseTraceEventMsg(m.Data)
			if err != nil {
				return malformed("receive trace event", fmt.Errorf("command %d: %w", m.Header.Command, err))
			}
			return fn(nftypes.TraceReport{Event: ev})
		},
		lost: func() error { return fn(nftypes.TraceReport{Lost: &nftypes.TraceLoss{}}) },
	})
}
