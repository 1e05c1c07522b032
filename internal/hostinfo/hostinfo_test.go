package hostinfo

import (
	"encoding/json"
	"runtime"
	"testing"
)

func TestCollect(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux reader")
	}
	info := Collect()
	if len(info.Errors) > 0 {
		t.Fatalf("errors: %v", info.Errors)
	}
	if info.Memory == nil || info.Memory.Total == 0 || info.Memory.Available == 0 {
		t.Fatalf("memory %+v", info.Memory)
	}
	if len(info.CPU) != runtime.NumCPU() && len(info.CPU) == 0 {
		t.Fatalf("cpus %d", len(info.CPU))
	}
	if info.Host == nil || info.Host.Hostname == "" || info.Host.BootTime == 0 || info.Host.KernelVersion == "" || info.Host.OS != "linux" {
		t.Fatalf("host %+v", info.Host)
	}
	if info.Disk == nil || info.Disk.Total == 0 || info.Disk.Path != "/" {
		t.Fatalf("disk %+v", info.Disk)
	}
	b, _ := json.Marshal(info)
	var m map[string]any
	json.Unmarshal(b, &m)
	for _, k := range []string{"Memory", "CPU", "Host", "Disk", "CollectionTime", "Errors"} {
		if _, ok := m[k]; !ok {
			t.Fatalf("no %s in %s", k, b)
		}
	}
	if _, ok := m["Memory"].(map[string]any)["usedPercent"]; !ok {
		t.Fatalf("gopsutil names: %s", b)
	}
}
