//go:build linux

package nflab

import "github.com/nflab/nflab/gotool/internal/nlclient"

func newBackend(netns int) (backend, error) {
	c, err := nlclient.Dial(netns)
	if err != nil {
		return nil, err
	}
	return c, nil
}
