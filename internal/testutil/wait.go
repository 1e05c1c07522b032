package testutil

import (
	"errors"
	"testing"
	"time"
)

// Poll intervals: the first retry comes quickly (most conditions in unit
// tests hold within a few milliseconds), then the interval grows so a slow
// condition does not keep a core busy.
const (
	firstInterval = time.Millisecond
	maxInterval   = 50 * time.Millisecond
)

// errNotYet is what a false bool condition reports.
var errNotYet = errors.New("condition still false")

// WaitFor polls cond until it returns true and fails t if it has not by the
// time within has passed. what names the condition in the failure message.
func WaitFor(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	if err := Poll(within, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	}); err != nil {
		t.Fatalf("timed out after %v waiting for %s", within, what)
	}
}

// WaitForErr polls cond until it returns nil and fails t if it has not by
// the time within has passed, reporting the last error cond returned.
func WaitForErr(t testing.TB, within time.Duration, what string, cond func() error) {
	t.Helper()
	if err := Poll(within, cond); err != nil {
		t.Fatalf("timed out after %v waiting for %s: %v", within, what, err)
	}
}

// Poll calls cond until it returns nil, or until within has passed, and
// returns cond's last error then. cond is always called at least once, and
// once more at the deadline, so a condition that became true while Poll
// slept is not reported as a timeout. Poll does not touch a testing.TB, so
// it may run on any goroutine.
func Poll(within time.Duration, cond func() error) error {
	deadline := time.Now().Add(within)
	interval := firstInterval
	for {
		err := cond()
		if err == nil {
			return nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return err
		}
		time.Sleep(min(interval, left))
		interval = min(interval*3/2+time.Millisecond, maxInterval)
	}
}
