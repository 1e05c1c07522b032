package agent

import (
	"os"

	"consulate/config"
	"consulate/httpapi"
)

// applyHTTPConfig gives the HTTP API http_config and unix_sockets.
func applyHTTPConfig(hc *httpapi.Config, rt *config.Runtime) {
	h := rt.HTTP
	hc.ResponseHeaders = h.ResponseHeaders
	hc.AllowWriteFrom = h.AllowWriteHTTPFrom
	hc.BlockEndpoints = h.BlockEndpoints
	hc.DisableCache = !h.UseCache
	hc.MaxHeaderBytes = h.MaxHeaderBytes
	if h.UnixSocketMode != 0 || h.UnixSocketUID != nil || h.UnixSocketGID != nil {
		p := &httpapi.UnixSocketPerms{Mode: os.FileMode(h.UnixSocketMode), UID: -1, GID: -1}
		if h.UnixSocketUID != nil {
			p.UID = *h.UnixSocketUID
		}
		if h.UnixSocketGID != nil {
			p.GID = *h.UnixSocketGID
		}
		hc.UnixSockets = p
	}
}
