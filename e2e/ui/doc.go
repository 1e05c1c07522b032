// Package ui holds the web UI's browser tests: headless Chromium, driven
// with chromedp, against a two-datacenter cluster of real agents (dc1: a
// server on 127.0.21.1 and a client with -ui on 127.0.21.2; dc2: a server
// on 127.0.21.11, WAN-joined). The tests skip when /usr/bin/chromium is
// missing. Screenshots go to $CONSULATE_UI_SCREENSHOTS when set, else to
// the test's temporary directory.
package ui
