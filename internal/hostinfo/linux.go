//go:build linux

package hostinfo

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
)

// procRoot is where the kernel's process file system is mounted.
const procRoot = "/proc"

func readMemory() (*Memory, error) {
	f, err := os.Open(procRoot + "/meminfo")
	if err != nil {
		return nil, fmt.Errorf("memory: %w", err)
	}
	defer f.Close()
	kv := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			continue
		}
		if len(fields) > 1 && fields[1] == "kB" {
			v *= 1024
		}
		kv[name] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("memory: %w", err)
	}
	m := &Memory{
		Total: kv["MemTotal"], Free: kv["MemFree"], Buffers: kv["Buffers"], Cached: kv["Cached"] + kv["SReclaimable"],
		Active: kv["Active"], Inactive: kv["Inactive"], WriteBack: kv["Writeback"], Dirty: kv["Dirty"],
		Shared: kv["Shmem"], Slab: kv["Slab"], Sreclaimable: kv["SReclaimable"], Sunreclaim: kv["SUnreclaim"],
		PageTables: kv["PageTables"], SwapCached: kv["SwapCached"], CommitLimit: kv["CommitLimit"],
		CommittedAS: kv["Committed_AS"], SwapTotal: kv["SwapTotal"], SwapFree: kv["SwapFree"], Mapped: kv["Mapped"],
		HugePagesTotal: kv["HugePages_Total"], HugePagesFree: kv["HugePages_Free"], HugePageSize: kv["Hugepagesize"],
		AnonHugePages: kv["AnonHugePages"],
	}
	if avail, ok := kv["MemAvailable"]; ok {
		m.Available = avail
	} else {
		m.Available = m.Free + m.Buffers + m.Cached
	}
	// As gopsutil: used is what is neither free nor buffers nor cache.
	if used := int64(m.Total) - int64(m.Free) - int64(m.Buffers) - int64(m.Cached); used > 0 {
		m.Used = uint64(used)
	}
	if m.Total > 0 {
		m.UsedPercent = float64(m.Used) / float64(m.Total) * 100
	}
	return m, nil
}

func readCPU() ([]CPU, error) {
	b, err := os.ReadFile(procRoot + "/cpuinfo")
	if err != nil {
		return nil, fmt.Errorf("cpu: %w", err)
	}
	var out []CPU
	var cur *CPU
	for line := range strings.SplitSeq(string(b), "\n") {
		name, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		if name == "processor" {
			n, _ := strconv.ParseInt(val, 10, 32)
			out = append(out, CPU{CPU: int32(n), Cores: 1})
			cur = &out[len(out)-1]
			continue
		}
		if cur == nil {
			continue
		}
		switch name {
		case "vendor_id", "vendor":
			cur.VendorID = val
		case "cpu family":
			cur.Family = val
		case "model":
			cur.Model = val
		case "model name", "cpu model":
			cur.ModelName = val
		case "stepping":
			n, _ := strconv.ParseInt(val, 10, 32)
			cur.Stepping = int32(n)
		case "physical id":
			cur.PhysicalID = val
		case "core id":
			cur.CoreID = val
		case "cpu MHz", "clock":
			cur.Mhz, _ = strconv.ParseFloat(strings.TrimSuffix(val, "MHz"), 64)
		case "cache size":
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(val, "KB")), 10, 32)
			cur.CacheSize = int32(n)
		case "flags", "Features":
			cur.Flags = strings.Fields(val)
		case "microcode":
			cur.Microcode = val
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("cpu: no processor in %s/cpuinfo", procRoot)
	}
	return out, nil
}

func readHost() (*Host, error) {
	h := &Host{OS: runtime.GOOS, KernelArch: kernelArch()}
	h.Hostname, _ = os.Hostname()
	var errs []string
	if b, err := os.ReadFile(procRoot + "/uptime"); err == nil {
		if f := strings.Fields(string(b)); len(f) > 0 {
			up, _ := strconv.ParseFloat(f[0], 64)
			h.Uptime = uint64(up)
		}
	} else {
		errs = append(errs, err.Error())
	}
	if b, err := os.ReadFile(procRoot + "/stat"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "btime "); ok {
				h.BootTime, _ = strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			}
		}
	} else {
		errs = append(errs, err.Error())
	}
	if ents, err := os.ReadDir(procRoot); err == nil {
		for _, e := range ents {
			if _, err := strconv.Atoi(e.Name()); err == nil && e.IsDir() {
				h.Procs++
			}
		}
	}
	if b, err := os.ReadFile(procRoot + "/sys/kernel/osrelease"); err == nil {
		h.KernelVersion = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile(procRoot + "/sys/kernel/random/boot_id"); err == nil {
		h.HostID = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		rel := parseOSRelease(b)
		h.Platform, h.PlatformVersion, h.PlatformFamily = rel["ID"], rel["VERSION_ID"], rel["ID_LIKE"]
		if h.PlatformFamily == "" {
			h.PlatformFamily = rel["ID"]
		}
	}
	if len(errs) > 0 {
		return h, fmt.Errorf("host: %s", strings.Join(errs, "; "))
	}
	return h, nil
}

func parseOSRelease(b []byte) map[string]string {
	out := map[string]string{}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		k, v, ok := strings.Cut(string(line), "=")
		if !ok {
			continue
		}
		out[k] = strings.Trim(v, `"'`)
	}
	return out
}

func kernelArch() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return ""
	}
	var sb strings.Builder
	for _, c := range u.Machine {
		if c == 0 {
			break
		}
		sb.WriteByte(byte(c))
	}
	return sb.String()
}

func readDisk(path string) (*Disk, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return nil, fmt.Errorf("disk: %s: %w", path, err)
	}
	bs := uint64(st.Bsize)
	d := &Disk{
		Path:        path,
		Fstype:      fsType(int64(st.Type)),
		Total:       st.Blocks * bs,
		Free:        st.Bavail * bs,
		InodesTotal: st.Files,
		InodesFree:  st.Ffree,
	}
	// As gopsutil (and df): used is total minus all free blocks, the
	// percentage over what users can have (used + available).
	d.Used = (st.Blocks - st.Bfree) * bs
	if d.Used+d.Free > 0 {
		d.UsedPercent = float64(d.Used) / float64(d.Used+d.Free) * 100
	}
	if d.InodesTotal >= d.InodesFree {
		d.InodesUsed = d.InodesTotal - d.InodesFree
	}
	if d.InodesTotal > 0 {
		d.InodesUsedPercent = float64(d.InodesUsed) / float64(d.InodesTotal) * 100
	}
	return d, nil
}

// fsType names the common Linux file system magic numbers (statfs(2)).
func fsType(magic int64) string {
	switch magic {
	case 0xEF53:
		return "ext2/ext3"
	case 0x58465342:
		return "xfs"
	case 0x9123683E:
		return "btrfs"
	case 0x01021994:
		return "tmpfs"
	case 0x794C7630:
		return "overlayfs"
	case 0x2FC12FC1:
		return "zfs"
	case 0x6969:
		return "nfs"
	case 0x65735546:
		return "fuse"
	}
	return ""
}
