package vm

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

const modulePath = "github.com/nflab/nflab"

// cliPkg is the nflab CLI, built fresh into the run directory for every VM.
const cliPkg = "./gotool/cmd/nflab"

// RepoRoot returns the root of the nflab checkout that contains the
// current directory.
func RepoRoot() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Path}}\t{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("not inside the nflab checkout: go list -m: %w", err)
	}
	path, dir, _ := strings.Cut(strings.TrimSpace(string(out)), "\t")
	if path != modulePath || dir == "" {
		return "", fmt.Errorf("the current directory is in module %q, not %s: run from inside the nflab checkout", path, modulePath)
	}
	return dir, nil
}

// GoBuild runs the go command in the repository root with CGO disabled
// (binaries for the guest must be static).
func GoBuild(root string, args ...string) error {
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return nil
}

// buildCLI builds the nflab CLI into dst. It returns false if the CLI's
// package does not exist yet.
func buildCLI(root, dst string) (bool, error) {
	if _, err := os.Stat(filepath.Join(root, cliPkg)); os.IsNotExist(err) {
		return false, nil
	}
	return true, GoBuild(root, "build", "-o", dst, cliPkg)
}
