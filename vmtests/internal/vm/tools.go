//go:build tools

package vm

// The initramfs compiles these commands from the module cache; importing
// them here keeps their requirements in go.mod and go.sum.
import _ "github.com/u-root/u-root/cmds/core/init"
