// Package ui holds the web UI served at /ui/ when the agent runs with -ui:
// a single page that reads the HTTP API (datacenters, services and their
// health, nodes, the WAN view) from the browser. It is static files only;
// everything it shows comes from /v1.
package ui
