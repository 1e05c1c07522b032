package ui

import (
	"io/fs"
	"strings"
	"testing"
)

func TestIndexIsEmbedded(t *testing.T) {
	b, err := fs.ReadFile(FS(), "index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"/v1/catalog/services", "/v1/health/service/", "/v1/operator/wan"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("index.html does not use %s", want)
		}
	}
}
