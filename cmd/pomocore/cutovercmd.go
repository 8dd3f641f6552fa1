package main

import (
	"context"
	"fmt"
	"io"
)

// cutoverUsage is the help of `pomocore cutover`.
const cutoverUsage = `usage: pomocore cutover adopt [-json]

adopt: run once the deployed service is stopped and before pomocore first
consumes its group (docs/cutover.md, section 4, step 4). It records, as already
counted, the pomodoroUsageLogIds of the entries the group (POMOCORE_GROUP)
delivered within POMOCORE_DEDUP_WINDOW before its last-delivered id, so
that producer retries of them are acknowledged with no effects. Entries
still pending at the deployed service's consumers are decided by their
pomodoro_usage_log (MONGO_URI): with a categoryId they were counted
(recorded and acknowledged), without one they were not (left pending for
pomocore to count); an entry with no pomodoroUsageLogId or no usage log is
undecided (left pending: pomocore counts it, perhaps a second time).
Running it again records nothing more.
`

// cutoverCmd implements `pomocore cutover adopt [-json]`.
func cutoverCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] != "adopt" && wantsHelp(args[:1]) {
		fmt.Fprint(stdout, cutoverUsage)
		return nil
	}
	if len(args) == 0 || args[0] != "adopt" {
		fmt.Fprint(stderr, cutoverUsage)
		return usageError{fmt.Errorf("cutover: want the subcommand adopt")}
	}
	fs := newFlags("cutover adopt", cutoverUsage, stderr)
	asJSON := fs.Bool("json", false, "write the report as one JSON document")
	if err := parseNoArgs(fs, args[1:]); err != nil {
		return err
	}
	a, in, err := inspectors(ctx, "cutover", getenv, stderr, nil)
	if err != nil {
		return err
	}
	defer a.Close()
	rep, err := a.AdoptHistory(ctx, in)
	if err != nil {
		return err
	}
	return rep.Write(stdout, *asJSON)
}
