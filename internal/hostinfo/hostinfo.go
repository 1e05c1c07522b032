// Package hostinfo describes the machine an agent runs on for
// /v1/agent/host, in the JSON shape Consul answers there (Consul fills it
// with gopsutil; the field names below are gopsutil's). On Linux it reads
// /proc and statfs(2); a part it cannot read is left null and its error
// listed in Errors, as Consul does.
package hostinfo

import "time"

// Info is the body of /v1/agent/host.
type Info struct {
	Memory         *Memory  `json:"Memory"`
	CPU            []CPU    `json:"CPU"`
	Host           *Host    `json:"Host"`
	Disk           *Disk    `json:"Disk"`
	CollectionTime int64    `json:"CollectionTime"`
	Errors         []string `json:"Errors"`
}

// Memory is gopsutil's mem.VirtualMemoryStat (the fields Linux gives).
type Memory struct {
	Total          uint64  `json:"total"`
	Available      uint64  `json:"available"`
	Used           uint64  `json:"used"`
	UsedPercent    float64 `json:"usedPercent"`
	Free           uint64  `json:"free"`
	Active         uint64  `json:"active"`
	Inactive       uint64  `json:"inactive"`
	Buffers        uint64  `json:"buffers"`
	Cached         uint64  `json:"cached"`
	WriteBack      uint64  `json:"writeBack"`
	Dirty          uint64  `json:"dirty"`
	Shared         uint64  `json:"shared"`
	Slab           uint64  `json:"slab"`
	Sreclaimable   uint64  `json:"sreclaimable"`
	Sunreclaim     uint64  `json:"sunreclaim"`
	PageTables     uint64  `json:"pageTables"`
	SwapCached     uint64  `json:"swapCached"`
	CommitLimit    uint64  `json:"commitLimit"`
	CommittedAS    uint64  `json:"committedAS"`
	SwapTotal      uint64  `json:"swapTotal"`
	SwapFree       uint64  `json:"swapFree"`
	Mapped         uint64  `json:"mapped"`
	HugePagesTotal uint64  `json:"hugePagesTotal"`
	HugePagesFree  uint64  `json:"hugePagesFree"`
	HugePageSize   uint64  `json:"hugePageSize"`
	AnonHugePages  uint64  `json:"anonHugePages"`
}

// CPU is gopsutil's cpu.InfoStat, one per logical CPU.
type CPU struct {
	CPU        int32    `json:"cpu"`
	VendorID   string   `json:"vendorId"`
	Family     string   `json:"family"`
	Model      string   `json:"model"`
	Stepping   int32    `json:"stepping"`
	PhysicalID string   `json:"physicalId"`
	CoreID     string   `json:"coreId"`
	Cores      int32    `json:"cores"`
	ModelName  string   `json:"modelName"`
	Mhz        float64  `json:"mhz"`
	CacheSize  int32    `json:"cacheSize"`
	Flags      []string `json:"flags"`
	Microcode  string   `json:"microcode"`
}

// Host is gopsutil's host.InfoStat.
type Host struct {
	Hostname             string `json:"hostname"`
	Uptime               uint64 `json:"uptime"`
	BootTime             uint64 `json:"bootTime"`
	Procs                uint64 `json:"procs"`
	OS                   string `json:"os"`
	Platform             string `json:"platform"`
	PlatformFamily       string `json:"platformFamily"`
	PlatformVersion      string `json:"platformVersion"`
	KernelVersion        string `json:"kernelVersion"`
	KernelArch           string `json:"kernelArch"`
	VirtualizationSystem string `json:"virtualizationSystem"`
	VirtualizationRole   string `json:"virtualizationRole"`
	HostID               string `json:"hostId"`
}

// Disk is gopsutil's disk.UsageStat.
type Disk struct {
	Path              string  `json:"path"`
	Fstype            string  `json:"fstype"`
	Total             uint64  `json:"total"`
	Free              uint64  `json:"free"`
	Used              uint64  `json:"used"`
	UsedPercent       float64 `json:"usedPercent"`
	InodesTotal       uint64  `json:"inodesTotal"`
	InodesUsed        uint64  `json:"inodesUsed"`
	InodesFree        uint64  `json:"inodesFree"`
	InodesUsedPercent float64 `json:"inodesUsedPercent"`
}

// DiskPath is the file system Consul reports under Disk.
const DiskPath = "/"

// Collect reads the host's description now; it never fails as a whole.
func Collect() *Info {
	out := &Info{}
	var err error
	if out.Memory, err = readMemory(); err != nil {
		out.Errors = append(out.Errors, err.Error())
	}
	if out.CPU, err = readCPU(); err != nil {
		out.Errors = append(out.Errors, err.Error())
	}
	if out.Host, err = readHost(); err != nil {
		out.Errors = append(out.Errors, err.Error())
	}
	if out.Disk, err = readDisk(DiskPath); err != nil {
		out.Errors = append(out.Errors, err.Error())
	}
	out.CollectionTime = time.Now().UnixNano()
	return out
}
