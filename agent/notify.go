package agent

import (
	"net"
	"os"
)

// The service manager states the agent reports (sd_notify(3)).
const (
	sdReady     = "READY=1"
	sdReloading = "RELOADING=1"
	sdStopping  = "STOPPING=1"
)

// notifyServiceManager tells systemd (a Type=notify unit) the agent's
// state through the datagram socket named by $NOTIFY_SOCKET. Outside such
// a unit the variable is unset and nothing is sent. READY=1 goes out once
// Start has the HTTP and DNS listeners up and the start joins done (Consul
// sends it after a LAN join; an agent that is started is ready here even
// when retry_join is still trying), STOPPING=1 on leave and shutdown, and
// RELOADING=1 then READY=1 around a reload.
func (a *Agent) notifyServiceManager(state string) {
	if err := sdNotify(os.Getenv("NOTIFY_SOCKET"), state); err != nil {
		a.logger.Debug("systemd notify failed", "state", state, "error", err)
	}
}

// sdNotify writes state to the unixgram socket at path ("@name" is an
// abstract socket); an empty path does nothing.
func sdNotify(path, state string) error {
	if path == "" {
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write([]byte(state))
	return err
}
