package checks

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"consulate/structs"
)

// osServiceCheck asks the service manager whether a service is running:
// on Linux `systemctl is-active -- NAME`, whose exit status 0 means active
// (passing); any other status, or no systemctl, is critical.
type osServiceCheck struct {
	id      string
	name    string
	timeout time.Duration
	n       Notifier
}

func newOSServiceCheck(id string, ct *structs.CheckType, interval time.Duration, n Notifier) (*osServiceCheck, error) {
	if strings.TrimSpace(ct.OSService) == "" || strings.HasPrefix(ct.OSService, "-") {
		return nil, fmt.Errorf("%w: check %q: bad OS service name %q", ErrInvalidCheck, id, ct.OSService)
	}
	return &osServiceCheck{id: id, name: ct.OSService, timeout: timeoutOr(ct.Timeout, defaultOSServiceTimeout), n: n}, nil
}

func (c *osServiceCheck) run(ctx context.Context) {
	status, output := c.probe(ctx)
	if ctx.Err() != nil {
		return
	}
	c.n.UpdateCheck(c.id, status, output)
}

func (c *osServiceCheck) probe(ctx context.Context) (string, string) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "systemctl", "is-active", "--", c.name).Output()
	state := strings.TrimSpace(string(out))
	if err == nil {
		return structs.HealthPassing, fmt.Sprintf("Service %q is healthy", c.name)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && state != "" {
		return structs.HealthCritical, fmt.Sprintf("Service %q is not healthy: %s", c.name, state)
	}
	return structs.HealthCritical, fmt.Sprintf("Service %q is not healthy: %v", c.name, err)
}
