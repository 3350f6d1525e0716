package vm

import (
	"os"
	"path/filepath"
	"time"
)

// cacheLifetime is how long an unused cached image is kept.
const cacheLifetime = 14 * 24 * time.Hour

// writeFileAtomic writes data to path through a temporary file and a
// rename, so that concurrent runs never see a partial file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// touch marks a cache entry as used.
func touch(path string) {
	now := time.Now()
	_ = os.Chtimes(path, now, now)
}

// prune removes cache entries matching pattern, other than keep, that have
// not been used for cacheLifetime.
func prune(dir, pattern, keep string) {
	old, _ := filepath.Glob(filepath.Join(dir, pattern))
	for _, p := range old {
		if fi, err := os.Stat(p); err == nil && p != keep && time.Since(fi.ModTime()) > cacheLifetime {
			os.Remove(p)
		}
	}
}
