//go:build linux

package nflab

import (
	"context"

	"github.com/nflab/nflab/gotool/internal/nlclient"
)

func newBackend(netns int) (backend, error) {
	c, err := nlclient.Dial(netns)
	if err != nil {
		return nil, err
	}
	return linuxBackend{c}, nil
}

// linuxBackend is nlclient's client, its Begin returning the interface.
type linuxBackend struct{ *nlclient.Client }

func (b linuxBackend) Begin(ctx context.Context, replace bool, gen *uint32) (txBackend, error) {
	tx, err := b.Client.Begin(ctx, replace, gen)
	if err != nil {
		return nil, err
	}
	return tx, nil
}

func (b linuxBackend) Detached(op string) (traceBackend, error) {
	d, err := b.Client.Detached(op)
	if err != nil {
		return nil, err
	}
	return d, nil
}
