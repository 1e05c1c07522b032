// Package ui holds the web UI served at /ui/ when the agent runs with -ui
// or ui_config.enabled: plain HTML, CSS and JavaScript modules (no build
// step, nothing fetched from outside), embedded in the binary. Its routes
// (/ui/DC/services[/NAME], /ui/DC/nodes[/NAME], /ui/DC/kv/…,
// /ui/DC/federation) are real paths; httpapi answers index.html for every
// /ui/ path that is not an asset, and the router in js/app.js draws the
// page. Every view reads /v1 through blocking queries (js/api.js); the
// federation page reads /v1/internal/ui/federation.
package ui
