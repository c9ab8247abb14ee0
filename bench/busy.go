package bench

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// A shared machine makes a measurement of the machine, not of the broker. These are the
// checks that say so: how much CPU other processes took during a run (the machine's busy time
// from /proc/stat minus the broker's and the generator's own), what the hypervisor stole and
// how long CPUs sat in iowait, and a quiet check before a run that waits a while for the
// machine to calm down and otherwise warns.

// DefaultBusyCores is the CPU (in cores) that processes other than the broker and the
// generator, plus time stolen by the hypervisor, may take during a run before the run is
// marked busy.
const DefaultBusyCores = 0.25

// cpuTimes is /proc/stat's first line: every CPU's time, split the way the flags need it.
type cpuTimes struct {
	busy   time.Duration // user, nice, system, irq, softirq (guest time is inside user)
	iowait time.Duration // idle with I/O outstanding
	steal  time.Duration // taken by the hypervisor for other guests
	idle   time.Duration
}

// readCPUTimes reads /proc/stat; zero when it cannot.
func readCPUTimes() cpuTimes {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}
	}
	line, _, _ := strings.Cut(string(data), "\n")
	return parseCPULine(line)
}

// parseCPULine reads "cpu user nice system idle iowait irq softirq steal guest guest_nice"
// (USER_HZ ticks).
func parseCPULine(line string) cpuTimes {
	f := strings.Fields(line)
	tick := func(i int) time.Duration {
		if i >= len(f) {
			return 0
		}
		v, _ := strconv.ParseInt(f[i], 10, 64)
		return time.Duration(v) * clockTick
	}
	return cpuTimes{busy: tick(1) + tick(2) + tick(3) + tick(6) + tick(7), iowait: tick(5), steal: tick(8), idle: tick(4)}
}

func (a cpuTimes) sub(b cpuTimes) cpuTimes {
	return cpuTimes{busy: a.busy - b.busy, iowait: a.iowait - b.iowait, steal: a.steal - b.steal, idle: a.idle - b.idle}
}

// busyVerdict marks a run busy when other processes and the hypervisor's steal took more
// than limit cores on average, and says why; iowait is a note only (a fsyncing broker makes
// its own).
func (m *MachineCPU) busyVerdict(limit float64) {
	m.BusyLimitCores = limit
	m.Busy = m.OtherCores+m.StealCores > limit
	m.BusyReason = ""
	if m.Busy {
		m.BusyReason = fmt.Sprintf("other processes used %.2f cores and the hypervisor stole %.2f during the run (limit %.2f of %d)",
			m.OtherCores, m.StealCores, limit, m.Cores)
	}
}

// PreRun is the quiet check before a run: the machine's 1-minute load average and, over a
// one-second probe, the cores other processes used (neither the broker nor the generator) and
// those left available (idle, not stolen).
type PreRun struct {
	LoadAvg        float64 `json:"load_avg_1m"`
	OtherCores     float64 `json:"other_cores"`
	AvailableCores float64 `json:"available_cores"`
	// WaitedS is how long the check waited for the machine to be quiet; Quiet whether it was.
	WaitedS float64 `json:"waited_s"`
	Quiet   bool    `json:"quiet"`
}

// quietProbe is how long one probe of the quiet check samples /proc/stat.
const quietProbe = time.Second

// quietCheck probes the machine until other processes use at most limit cores or wait has
// passed (at least one probe). brokerPIDs' CPU counts as the broker's, not as other work.
func quietCheck(ctx context.Context, limit float64, wait time.Duration, brokerPIDs []int) PreRun {
	start := time.Now()
	brokerCPU := func() time.Duration {
		var sum time.Duration
		for _, pid := range brokerPIDs {
			cpu, _ := procCPU(pid)
			sum += cpu
		}
		return sum
	}
	for {
		t0, s0, b0, at := readCPUTimes(), selfCPU(), brokerCPU(), time.Now()
		select {
		case <-ctx.Done():
			return PreRun{WaitedS: time.Since(start).Seconds()}
		case <-time.After(quietProbe):
		}
		d, sec := readCPUTimes().sub(t0), time.Since(at).Seconds()
		other := (d.busy - (selfCPU() - s0) - (brokerCPU() - b0)).Seconds() / sec
		p := PreRun{LoadAvg: loadAvg(), OtherCores: max(other, 0), AvailableCores: (d.idle + d.iowait).Seconds() / sec,
			WaitedS: time.Since(start).Seconds()}
		p.Quiet = p.OtherCores <= limit
		if p.Quiet || time.Since(start)+quietProbe > wait {
			return p
		}
	}
}

// loadAvg is /proc/loadavg's 1-minute load.
func loadAvg() float64 {
	var l float64
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Sscanf(string(data), "%f", &l)
	}
	return l
}

// note says what the quiet check found, for a report's notes; "" when the machine was quiet
// at once.
func (p PreRun) note(limit float64) string {
	switch {
	case p.Quiet && p.WaitedS <= quietProbe.Seconds()*1.5:
		return ""
	case p.Quiet:
		return fmt.Sprintf("quiet check: waited %.0f s for other processes to use at most %.2f cores before the run (then %.2f; load average %.1f)", p.WaitedS, limit, p.OtherCores, p.LoadAvg)
	}
	return fmt.Sprintf("quiet check: the machine was NOT quiet before the run: other processes used %.2f cores (limit %.2f), %.2f cores available, load average %.1f, after waiting %.0f s",
		p.OtherCores, limit, p.AvailableCores, p.LoadAvg, p.WaitedS)
}
