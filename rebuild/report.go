package rebuild

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/pomocore/pomocore"
)

// Print writes the report as pomocore leaderboard rebuild prints it: the
// boards that change, then what was written.
func (rep Report) Print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(rep.Changes) > 0 {
		fmt.Fprintln(tw, "BOARD\tMEMBERS NOW\tREBUILT\tSECONDS NOW\tREBUILT")
	}
	for _, c := range rep.Changes {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", c.Key, c.LiveMembers, c.NewMembers, pomocore.FormatScore(c.LiveTotal), pomocore.FormatScore(c.NewTotal))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !rep.Swapped {
		_, err := fmt.Fprintf(w, "dry run: nothing written; %d leaderboards would change, rebuilt from %d usage logs\n", len(rep.Changes), rep.Logs)
		return err
	}
	_, err := fmt.Fprintf(w, "swapped in %d leaderboards rebuilt from %d usage logs (%d changed)\n", rep.Keys, rep.Logs, len(rep.Changes))
	return err
}

// progressBar draws the rebuild's progress: a bar redrawn in place on a
// terminal, a plain line at each tenth otherwise; it never goes back.
type progressBar struct {
	w     io.Writer
	tty   bool
	last  int // percent shown last (-1: none)
	drawn bool
}

// show draws done (0..1) of the read, logs usage logs read so far.
func (p *progressBar) show(done float64, logs int) {
	pct := int(100 * max(0, min(1, done)))
	if pct <= p.last && !(pct == 100 && p.tty) {
		return
	}
	if p.tty {
		n := pct * 30 / 100
		fmt.Fprintf(p.w, "\r\033[Krebuild [%s%s] %3d%%  %d usage logs", strings.Repeat("#", n), strings.Repeat(".", 30-n), pct, logs)
		p.drawn, p.last = true, pct
		return
	}
	if pct/10 == p.last/10 && pct != 100 && p.last >= 0 {
		return
	}
	fmt.Fprintf(p.w, "rebuild: %d%% (%d usage logs)\n", pct, logs)
	p.last = pct
}

// stop ends a bar drawn in place with a newline.
func (p *progressBar) stop() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}
