//go:build !linux

package loadgen

import "time"

func pacer() (done func()) { return func() {} }

func sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }
