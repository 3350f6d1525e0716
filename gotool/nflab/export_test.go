package nflab

import "time"

// SetTraceTiming shortens the timing of the traces' bookkeeping for a
// test: idle stands for NFLAB_TRACE_IDLE, slack for what is added to it;
// a follower's requests and overrun checks get slack too. The test calls
// the function returned once its watches have ended.
func SetTraceTiming(idle, slack time.Duration) (restore func()) {
	old := traceTimes.Load()
	traceTimes.Store(&traceTiming{idle: idle, slack: slack, request: old.request, overrunGap: slack})
	return func() { traceTimes.Store(old) }
}
