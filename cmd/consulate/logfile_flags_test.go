package main

import (
	"testing"
	"time"
)

func TestLogFileFlags(t *testing.T) {
	cfg, err := parseAgentFlags(t, "-log-file", "/var/log/consulate/", "-log-rotate-bytes", "1048576",
		"-log-rotate-duration", "1h", "-log-rotate-max-files=-1")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LogFile == nil || *cfg.LogFile != "/var/log/consulate/" {
		t.Errorf("log_file = %v", cfg.LogFile)
	}
	if cfg.LogRotateBytes == nil || *cfg.LogRotateBytes != 1<<20 {
		t.Errorf("log_rotate_bytes = %v", cfg.LogRotateBytes)
	}
	if cfg.LogRotateDuration == nil || *cfg.LogRotateDuration != time.Hour {
		t.Errorf("log_rotate_duration = %v", cfg.LogRotateDuration)
	}
	if cfg.LogRotateMaxFiles == nil || *cfg.LogRotateMaxFiles != -1 {
		t.Errorf("log_rotate_max_files = %v", cfg.LogRotateMaxFiles)
	}
	cfg, err = parseAgentFlags(t, "-server")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.LogFile != nil || cfg.LogRotateBytes != nil || cfg.LogRotateDuration != nil || cfg.LogRotateMaxFiles != nil {
		t.Errorf("unset log flags leaked: %+v", cfg)
	}
}
