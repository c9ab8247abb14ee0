package bench

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Process and machine accounting from /proc (Linux). A broker's cost is read from its own
// /proc/PID entries, so it is the broker's alone whatever else runs on the machine.

const clockTick = 10 * time.Millisecond // USER_HZ: 100 on every Linux ABI Go supports

// procCPU is a process's utime+stime from /proc/PID/stat.
func procCPU(pid int) (time.Duration, error) {
	user, sys, err := procCPUTimes(pid)
	return user + sys, err
}

// procCPUTimes is a process's utime and stime from /proc/PID/stat: CPU time in user space and
// in the kernel (its syscalls, and the softirq work they run, such as loopback TCP).
func procCPUTimes(pid int) (user, sys time.Duration, err error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name is parenthesized and may hold spaces: fields start after the last ')'.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64) // field 14 of proc(5)
	st, _ := strconv.ParseInt(f[12], 10, 64) // field 15
	return time.Duration(ut) * clockTick, time.Duration(st) * clockTick, nil
}

// procMem returns a process's resident set (VmRSS) and its peak (VmHWM), in bytes.
func procMem(pid int) (rss, peak int64, err error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			peak = kb << 10
		}
	}
	return rss, peak, nil
}

// selfCPU is this process's CPU time (the generator's).
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Machine is the fingerprint of the machine a report was measured on.
type Machine struct {
	CPU      string  `json:"cpu"`
	Cores    int     `json:"cores"`
	MemoryGB float64 `json:"memory_gb"`
	Kernel   string  `json:"kernel"`
	Disk     string  `json:"disk"` // device, model and type of the filesystem holding the data directory (or the report)
	Go       string  `json:"go"`
	// LoadAvg is /proc/loadavg's 1-minute load at the start: above the core count, other work
	// competed with the run.
	LoadAvg float64 `json:"load_avg_1m"`
	// DiskSync is the data directory's disk measured in the same invocation (a comparison's):
	// synced-write rate and latency per write size, its physical limit for fsync-before-ack.
	DiskSync []DiskSync `json:"disk_sync,omitempty"`
}

// describe is the fingerprint as the "Machine" section of a report.
func (m Machine) describe() string {
	s := fmt.Sprintf("## Machine\n\n%s, %d cores, %.1f GB memory, %s, disk %s, %s, load average %.2f at the start.\n",
		m.CPU, m.Cores, m.MemoryGB, m.Kernel, m.Disk, m.Go, m.LoadAvg)
	if len(m.DiskSync) > 0 {
		s += "\nDisk, appends each followed by fdatasync in the data directory (`dd oflag=dsync`), measured before the runs: " + diskSyncLine(m.DiskSync) + ".\n"
	}
	return s
}

// fingerprint describes this machine; dir is a directory on the disk to describe.
func fingerprint(dir string) Machine {
	m := Machine{Cores: runtime.NumCPU(), Go: runtime.Version(), CPU: "unknown", Disk: "unknown"}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		fmt.Sscanf(strings.TrimPrefix(string(data), "MemTotal:"), "%f", &kb)
		m.MemoryGB = kb / (1 << 20)
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:]) + " " + unix.ByteSliceToString(u.Machine[:])
	}
	m.LoadAvg = loadAvg()
	m.Disk = describeDisk(dir)
	return m
}

// describeDisk names the block device holding dir, with its model and whether it rotates.
func describeDisk(dir string) string {
	var st unix.Stat_t
	if unix.Stat(dir, &st) != nil {
		return "unknown"
	}
	major, minor := unix.Major(st.Dev), unix.Minor(st.Dev)
	sys := fmt.Sprintf("/sys/dev/block/%d:%d", major, minor)
	target, err := filepath.EvalSymlinks(sys)
	if err != nil {
		return fmt.Sprintf("device %d:%d (not a block device: tmpfs or overlay?)", major, minor)
	}
	name := filepath.Base(target)
	dev := target
	if _, err := os.Stat(filepath.Join(dev, "queue")); err != nil {
		dev = filepath.Dir(target) // a partition: its disk holds queue/ and device/
	}
	read := func(p string) string {
		b, _ := os.ReadFile(filepath.Join(dev, p))
		return strings.TrimSpace(string(b))
	}
	kind := "ssd"
	if read("queue/rotational") == "1" {
		kind = "rotational"
	}
	s := name + " (" + kind
	if model := read("device/model"); model != "" {
		s += ", " + model
	}
	if sz, err := strconv.ParseInt(read("size"), 10, 64); err == nil {
		s += fmt.Sprintf(", %.0f GB", float64(sz)*512/1e9)
	}
	return s + ")"
}

// fileLimit is this process's open-file limit.
func fileLimit() uint64 {
	var lim unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &lim)
	return lim.Cur
}

// raiseFileLimit lifts this process's open-file limit to at least n when it can (root may
// raise the hard limit too); children started afterwards inherit it. A many-connections
// workload needs a descriptor per connection in the generator and one or two per connection
// in the broker.
func raiseFileLimit(n uint64) error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur >= n {
		return nil
	}
	want := unix.Rlimit{Cur: n, Max: max(lim.Max, n)}
	if unix.Setrlimit(unix.RLIMIT_NOFILE, &want) == nil {
		return nil
	}
	if lim.Max > lim.Cur {
		lim.Cur = lim.Max
		unix.Setrlimit(unix.RLIMIT_NOFILE, &lim)
	}
	if lim.Cur < n {
		return fmt.Errorf("open-file limit is %d, the workload needs about %d: raise it (ulimit -n)", lim.Cur, n)
	}
	return nil
}

// dirtyMB is the page cache waiting to be written back (Dirty plus Writeback in
// /proc/meminfo), in MB; -1 if unknown.
func dirtyMB() float64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return -1
	}
	var kb float64
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && (k == "Dirty" || k == "Writeback") {
			var n float64
			fmt.Sscanf(strings.TrimSpace(v), "%f", &n)
			kb += n
		}
	}
	return kb * 1024 / 1e6
}

// settlePageCache writes back the machine's dirty page cache (sync(2)) before a measured run
// and returns how many MB it was. Without it the write-back of what an earlier run or another
// broker left (a broker without fsync leaves gigabytes) lands inside this run's measurement:
// it competes for the disk and, on ext4 with data=ordered, every journal commit an fdatasync
// forces must first write the ordered data it carries, so a fsyncing broker is charged for
// the previous run's writes.
func settlePageCache() float64 {
	mb := dirtyMB()
	unix.Sync()
	return mb
}

// brokerByPort finds the process listening on bootstrap's port on this machine — the broker,
// when --broker-pid was not given — from the listening sockets' inodes in /proc/net/tcp and
// tcp6 and the socket links in /proc/PID/fd. It returns 0 and why when there is none: a
// broker on another host, or one whose /proc entries this user may not read.
func brokerByPort(bootstrap string) (int, string) {
	host, portStr, err := net.SplitHostPort(bootstrap)
	if err != nil {
		return 0, err.Error()
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return 0, fmt.Sprintf("port %q is not a number", portStr)
	}
	if !localHost(host) {
		return 0, fmt.Sprintf("%s is not an address of this machine", host)
	}
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(data), "\n")[1:] {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			fs := strings.Fields(l)
			if len(fs) < 10 || fs[3] != "0A" { // 0A: TCP_LISTEN
				continue
			}
			_, hexPort, ok := strings.Cut(fs[1], ":")
			if p, err := strconv.ParseUint(hexPort, 16, 16); ok && err == nil && p == port && fs[9] != "0" {
				inodes["socket:["+fs[9]+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		return 0, fmt.Sprintf("no socket listens on port %d here", port)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/fd")
	for _, dir := range procs {
		fds, err := os.ReadDir(dir)
		if err != nil {
			continue // another user's process, or gone
		}
		for _, fd := range fds {
			if link, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && inodes[link] {
				pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
				return pid, ""
			}
		}
	}
	return 0, fmt.Sprintf("port %d listens, but no process this user can read holds its socket", port)
}

// localHost reports whether host names this machine: loopback, or one of its interfaces'
// addresses.
func localHost(host string) bool {
	ips, err := net.LookupIP(host)
	if err != nil {
		return false
	}
	addrs, _ := net.InterfaceAddrs()
	for _, ip := range ips {
		if ip.IsLoopback() || ip.IsUnspecified() {
			return true
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
				return true
			}
		}
	}
	return false
}
