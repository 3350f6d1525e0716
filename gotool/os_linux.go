//go:build linux

package nflab

import "github.com/nflab/nflab/gotool/internal/nlclient"

func newBackend() (backend, error) {
	c, err := nlclient.New()
	if err != nil {
		return nil, err
	}
	return c, nil
}
