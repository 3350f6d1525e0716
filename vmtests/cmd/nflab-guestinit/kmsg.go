//go:build linux

package main

import (
	"bufio"
	"errors"
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// kmsgWriter copies every kernel log record from /dev/kmsg to a file while
// the payload runs, so that the host sees the whole log even when the ring
// buffer wraps or the guest hangs and is killed.
type kmsgWriter struct {
	done, stopped chan struct{}
}

// startKmsg starts copying /dev/kmsg, from the first record still in the
// ring buffer, to path.
func startKmsg(path string) *kmsgWriter {
	k := &kmsgWriter{done: make(chan struct{}), stopped: make(chan struct{})}
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		log.Printf("opening /dev/kmsg: %v", err)
		close(k.stopped)
		return k
	}
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		log.Printf("creating %s: %v", path, err)
		unix.Close(fd)
		close(k.stopped)
		return k
	}
	go k.copy(fd, out)
	return k
}

// stop copies the records logged so far and stops.
func (k *kmsgWriter) stop() {
	close(k.done)
	<-k.stopped
}

func (k *kmsgWriter) copy(fd int, out *os.File) {
	defer close(k.stopped)
	defer out.Close()
	defer unix.Close(fd)
	w := bufio.NewWriterSize(out, 64<<10)
	buf := make([]byte, 16<<10)
	stopping := false
	for {
		n, err := unix.Read(fd, buf)
		switch {
		case err == nil:
			w.WriteString(formatRecord(string(buf[:n])))
			continue
		case errors.Is(err, unix.EPIPE):
			// The reader fell behind and records were overwritten.
			w.WriteString("[nflab-guestinit: kernel log records were lost]\n")
			continue
		case errors.Is(err, unix.EINTR):
			continue
		case !errors.Is(err, unix.EAGAIN):
			fmt.Fprintf(w, "[nflab-guestinit: reading /dev/kmsg: %v]\n", err)
			w.Flush()
			return
		}
		// Caught up: flush, then stop or wait for more.
		if err := w.Flush(); err != nil {
			log.Printf("writing kernel log: %v", err)
		}
		if stopping {
			return
		}
		select {
		case <-k.done:
			stopping = true // read what was logged meanwhile, then stop
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// formatRecord turns a /dev/kmsg record ("prio,seq,usec,flags;text\n"
// followed by " KEY=value" lines) into dmesg's "[secs.usecs] text" form.
func formatRecord(rec string) string {
	hdr, text, ok := strings.Cut(rec, ";")
	if !ok {
		return rec
	}
	text, _, _ = strings.Cut(text, "\n ")
	text = strings.TrimSuffix(text, "\n")
	f := strings.SplitN(hdr, ",", 4)
	var usec uint64
	if len(f) >= 3 {
		usec, _ = strconv.ParseUint(f[2], 10, 64)
	}
	// Multi-line messages arrive escaped; restore the line breaks.
	text = strings.ReplaceAll(text, `\x0a`, "\n")
	return fmt.Sprintf("[%5d.%06d] %s\n", usec/1e6, usec%1e6, text)
}
