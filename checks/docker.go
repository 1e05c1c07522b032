package checks

import (
	"fmt"
	"sync"

	"consulate/structs"
)

// dockerCheck stands for a Docker check Consulate cannot run (it has no
// Docker client). It reports critical once when started, which is what
// Consul reports on a host without a Docker engine, so the service it
// guards is not shown healthy on a check nobody runs.
type dockerCheck struct {
	id        string
	container string
	n         Notifier
	once      sync.Once
}

// Start reports the check critical once.
func (c *dockerCheck) Start() {
	c.once.Do(func() {
		c.n.UpdateCheck(c.id, structs.HealthCritical,
			fmt.Sprintf("Consulate does not run Docker checks (container %q): no Docker client", c.container))
	})
}

// Stop keeps a later Start from reporting.
func (c *dockerCheck) Stop() { c.once.Do(func() {}) }
