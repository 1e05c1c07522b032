package config

import (
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestLogFile(t *testing.T) {
	base := func(c *Config) { c.DataDir = ptr("/tmp/x"); c.NodeName = ptr("n") }
	cases := []struct {
		name, body string
		want       LogFile
	}{
		{"none", `{}`, LogFile{RotateDuration: 24 * time.Hour}},
		{"directory", `{"log_file": "/var/log/consulate/"}`,
			LogFile{Path: "/var/log/consulate/consulate.log", RotateDuration: 24 * time.Hour}},
		{"no extension", `{"log_file": "/var/log/agent"}`,
			LogFile{Path: "/var/log/agent", RotateDuration: 24 * time.Hour}},
		{"all keys", `{"log_file": "/var/log/c/agent.txt", "log_rotate_bytes": 1048576, "log_rotate_duration": "1h", "log_rotate_max_files": -1}`,
			LogFile{Path: "/var/log/c/agent.txt", RotateBytes: 1 << 20, RotateDuration: time.Hour, RotateMaxFiles: -1}},
		{"hcl", "log_file = \"logs/\"\nlog_rotate_max_files = 3\n",
			LogFile{Path: filepath.Join("logs", "consulate.log"), RotateDuration: 24 * time.Hour, RotateMaxFiles: 3}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := "c.json"
			if tc.name == "hcl" {
				name = "c.hcl"
			}
			rt, err := Load(LoadOpts{Sources: []Source{data(name, tc.body)}, Flags: flags(base)})
			if err != nil {
				t.Fatal(err)
			}
			if rt.LogFile != tc.want {
				t.Errorf("LogFile = %+v, want %+v", rt.LogFile, tc.want)
			}
		})
	}
	// A flag overrides the file.
	rt, err := Load(LoadOpts{Sources: []Source{data("c.json", `{"log_file": "/a/", "log_rotate_bytes": 10}`)},
		Flags: flags(func(c *Config) { base(c); c.LogFile = ptr("/b/x.log"); c.LogRotateBytes = ptr(20) })})
	if err != nil {
		t.Fatal(err)
	}
	if rt.LogFile.Path != "/b/x.log" || rt.LogFile.RotateBytes != 20 {
		t.Errorf("flags did not win: %+v", rt.LogFile)
	}

	for _, tc := range []struct{ body, want string }{
		{`{"log_rotate_bytes": -1}`, `config: c.json: log_rotate_bytes: must not be negative (0 means no size limit), got -1`},
		{`{"log_rotate_duration": "-1h"}`, `config: c.json: log_rotate_duration: must not be negative, got -1h0m0s`},
		{`{"log_rotate_duration": 5}`, `config: c.json: log_rotate_duration: expected a duration like "10s", got 5`},
	} {
		_, err := Load(LoadOpts{Sources: []Source{data("c.json", tc.body)}, Flags: flags(base)})
		if err == nil || err.Error() != tc.want || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want %s", tc.body, err, tc.want)
		}
	}
}
