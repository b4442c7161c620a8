//go:build !linux

package emulator

import "errors"

func newClock() (clock, error) { return nil, errors.New("emulator: no timerfd on this system") }
