package config

// disableRemoteExec is disable_remote_exec: remote exec stays off unless a
// source sets the key to false, as in Consul (where it defaults to true
// since 0.8).
func disableRemoteExec(c *Config) bool {
	if c.DisableRemoteExec == nil {
		return true
	}
	return *c.DisableRemoteExec
}
