package emulator

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// timerfdClock is a non-blocking timerfd wrapped in an *os.File, so that a
// read parks the goroutine in the netpoller, which wakes it when the timer
// fires, at once, whatever the poller's own sleep.
type timerfdClock struct {
	f  *os.File
	fd int
}

func newClock() (clock, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return &timerfdClock{f: os.NewFile(uintptr(fd), "emulator-pacer"), fd: fd}, nil
}

func (c *timerfdClock) arm(d time.Duration) error {
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(d.Nanoseconds())}
	return unix.TimerfdSettime(c.fd, 0, &spec, nil)
}

func (c *timerfdClock) wait() bool {
	var buf [8]byte // the number of expirations
	_, err := c.f.Read(buf[:])
	return err == nil
}

func (c *timerfdClock) close() { c.f.Close() }
