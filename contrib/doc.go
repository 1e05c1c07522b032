// Package contrib holds what packagers install beside the binary: the
// systemd unit (systemd/consulate.service), the /etc/consulate.d/ layout
// (etc/consulate.d/), sysusers.d, tmpfiles.d and rsyslog snippets. Its
// tests verify the unit with systemd-analyze, load the example
// configurations and run the built binary under a fake service manager.
package contrib
