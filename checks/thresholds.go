package checks

import (
	"sync"

	"consulate/structs"
)

// thresholds sits between a running check and its Notifier and applies
// Consul's consecutive-result thresholds: a passing or warning result is
// reported once SuccessBeforePassing results in a row agree, a critical
// one once FailuresBeforeCritical failures in a row were seen; before
// that, FailuresBeforeWarning failures in a row report warning. Results
// that do not reach a threshold leave the status as it was. As in
// Consul, both counters start at their thresholds, so the first result
// after the check starts (registration, agent start, reload) is reported
// as it is; the thresholds apply to the flips after it.
type thresholds struct {
	inner Notifier

	successBefore int
	failuresWarn  int
	failuresCrit  int
	mu            sync.Mutex
	successes     int
	failures      int
}

// newThresholds wraps n for ct; with no thresholds set it returns n.
func newThresholds(n Notifier, ct *structs.CheckType) Notifier {
	if ct.SuccessBeforePassing <= 1 && ct.FailuresBeforeCritical <= 1 && ct.FailuresBeforeWarning <= 1 {
		return n
	}
	t := &thresholds{
		inner:         n,
		successBefore: max(ct.SuccessBeforePassing, 1),
		failuresCrit:  max(ct.FailuresBeforeCritical, 1),
		failuresWarn:  ct.FailuresBeforeWarning,
	}
	if t.failuresWarn <= 0 {
		t.failuresWarn = t.failuresCrit
	}
	t.successes, t.failures = t.successBefore, t.failuresCrit
	return t
}

// UpdateCheck counts the result and reports it once a threshold is met.
func (t *thresholds) UpdateCheck(checkID, status, output string) {
	t.mu.Lock()
	report := false
	if status == structs.HealthPassing || status == structs.HealthWarning {
		t.successes++
		t.failures = 0
		report = t.successes >= t.successBefore
	} else {
		t.failures++
		t.successes = 0
		switch {
		case t.failures >= t.failuresCrit:
			report = true
		case t.failures >= t.failuresWarn:
			report, status = true, structs.HealthWarning
		}
	}
	t.mu.Unlock()
	if report {
		t.inner.UpdateCheck(checkID, status, output)
	}
}
