package config

import "testing"

func TestDisableRemoteExec(t *testing.T) {
	for _, tc := range []struct {
		name string
		dev  bool
		src  Source
		want bool
	}{
		{"default disabled", false, data("a.json", `{"data_dir": "/tmp/x"}`), true},
		{"dev still disabled", true, data("a.json", `{}`), true},
		{"json enabled", false, data("a.json", `{"data_dir": "/tmp/x", "disable_remote_exec": false}`), false},
		{"hcl enabled", false, data("a.hcl", `data_dir = "/tmp/x"
disable_remote_exec = false`), false},
		{"hcl disabled", false, data("a.hcl", `data_dir = "/tmp/x"
disable_remote_exec = true`), true},
	} {
		rt, err := Load(LoadOpts{Dev: tc.dev, Sources: []Source{tc.src}})
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if rt.DisableRemoteExec != tc.want {
			t.Errorf("%s: DisableRemoteExec = %v, want %v", tc.name, rt.DisableRemoteExec, tc.want)
		}
	}
}
