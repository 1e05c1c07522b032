package ui

import (
	"embed"
	"io/fs"
)

//go:embed assets
var assets embed.FS

// FS returns the UI's files, rooted so that index.html is at the top.
func FS() fs.FS {
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		// The embedded tree is fixed at build time; a failure here is a
		// build mistake, caught by the package test.
		panic(err)
	}
	return sub
}
