package bench

import (
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// histogram records durations in log-linear buckets (16 per power of two of
// microseconds, about 4% wide): constant memory however many it records.
type histogram struct {
	mu     sync.Mutex
	counts [64 * 16]int64
	n      int64
	max    time.Duration
}

func bucketOf(us uint64) int {
	if us < 16 {
		return int(us)
	}
	exp := bits.Len64(us) - 1 // >= 4
	sub := (us >> (exp - 4)) & 15
	return (exp-3)*16 + int(sub)
}

// bucketUpper is the largest value (microseconds) of bucket b.
func bucketUpper(b int) uint64 {
	if b < 16 {
		return uint64(b)
	}
	exp := b/16 + 3
	sub := uint64(b % 16)
	return ((16+sub+1)<<(exp-4) - 1)
}

func (h *histogram) record(ds []time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, d := range ds {
		if d < 0 {
			d = 0
		}
		h.counts[bucketOf(uint64(d/time.Microsecond))]++
		h.n++
		h.max = max(h.max, d)
	}
}

// quantile returns the upper bound of the bucket holding quantile q.
func (h *histogram) quantile(q float64) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.n)))
	var seen int64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(bucketUpper(b))*time.Microsecond, h.max)
		}
	}
	return h.max
}

// rssBytes returns the process's resident set size (0 where /proc is
// missing).
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// progress draws a progress bar on w: redrawn in place on a terminal, a
// line every few seconds otherwise.
type progress struct {
	w      io.Writer
	tty    bool
	label  string
	total  int64
	start  time.Time
	last   time.Time
	quiet  bool
	drawn  bool
	lastAt int64
}

func newProgress(w io.Writer, quiet bool) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil {
			tty = st.Mode()&os.ModeCharDevice != 0
		}
	}
	return &progress{w: w, tty: tty, quiet: quiet}
}

// begin starts a phase of total units (0: unknown).
func (p *progress) begin(label string, total int64, now time.Time) {
	p.end()
	p.label, p.total, p.start, p.last, p.lastAt, p.drawn = label, total, now, time.Time{}, 0, false
}

// update redraws with done units, at most every 200ms (5s off a terminal).
func (p *progress) update(done int64, extra string, now time.Time) {
	if p.quiet {
		return
	}
	every := 200 * time.Millisecond
	if !p.tty {
		every = 5 * time.Second
	}
	if !p.last.IsZero() && now.Sub(p.last) < every {
		return
	}
	rate := 0.0
	if !p.last.IsZero() {
		rate = float64(done-p.lastAt) / now.Sub(p.last).Seconds()
	}
	p.last, p.lastAt = now, done
	line := fmt.Sprintf("%-22s %s %s", p.label, bar(done, p.total, 30), humanCount(done))
	if p.total > 0 {
		line += "/" + humanCount(p.total)
	}
	if rate > 0 {
		line += fmt.Sprintf("  %s/s", humanCount(int64(rate)))
	}
	if extra != "" {
		line += "  " + extra
	}
	if p.tty {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
		p.drawn = true
	} else {
		fmt.Fprintln(p.w, line)
	}
}

// end finishes the current phase's line.
func (p *progress) end() {
	if p.drawn && p.tty {
		fmt.Fprintln(p.w)
	}
	p.drawn = false
}

func bar(done, total int64, width int) string {
	if total <= 0 {
		return ""
	}
	n := int(min(done, total) * int64(width) / total)
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", width-n) + "]" + fmt.Sprintf(" %3d%%", min(done, total)*100/total)
}

// humanCount formats n with thousands separators.
func humanCount(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return "-" + humanCount(-n)
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
