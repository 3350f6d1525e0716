//go:build !linux

package nflab

import (
	"errors"
	"fmt"
)

func newBackend(int) (backend, error) {
	return nil, fmt.Errorf("nflab: %w: the nflab module and generic netlink need Linux", errors.ErrUnsupported)
}
