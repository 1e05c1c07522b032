package chaos

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Summary tabulates rounds per fault: how many, recovery (min / median /
// max of RecoveryFirst and RecoveryAll), operations checked, violations.
func Summary(rounds []*Round) string {
	type agg struct {
		n, ops, unknown, viol int
		first, all, heal      []time.Duration
	}
	by := map[string]*agg{}
	for _, rd := range rounds {
		a := by[rd.Fault]
		if a == nil {
			a = &agg{}
			by[rd.Fault] = a
		}
		a.n++
		a.ops += rd.Ops
		a.unknown += rd.Unknown
		a.viol += len(rd.Violations)
		a.first = append(a.first, rd.RecoveryFirst)
		a.all = append(a.all, rd.RecoveryAll)
		a.heal = append(a.heal, rd.HealAll)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| fault | rounds | recovery, first write (min / median / max) | recovery, every other agent | heal → every agent | ops checked | unknown writes | violations |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|\n")
	total := 0
	for _, f := range Faults() {
		a := by[f.Name]
		if a == nil {
			continue
		}
		total += a.ops
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %d | %d | %d |\n", f.Name, a.n, spread(a.first), spread(a.all), spread(a.heal), a.ops, a.unknown, a.viol)
	}
	fmt.Fprintf(&b, "\n%d rounds, %d operations checked\n", len(rounds), total)
	return b.String()
}

func spread(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s) == 0 {
		return "-"
	}
	return fmt.Sprintf("%s / %s / %s", ms(s[0]), ms(s[len(s)/2]), ms(s[len(s)-1]))
}
