package main

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/internal/eventually"
	"github.com/pomocore/pomocore/internal/llmtest"
)

// An LLM answer is stored when it arrives, not when the activity is seen
// again: the activity counted before the answer came (no wait), and a
// restarted process knows the answer without asking again. (The main
// server's categorized_data carries it with IsLLMBased at once.)
func TestLLMAnswerIsKeptWhenItArrivesNotWhenSeenAgain(t *testing.T) {
	r := newLLMRun(t, llmtest.Always("Finance"), map[string]string{"POMOCORE_LLM_WAIT": "0", "POMOCORE_LLM_LINGER": "0"})

	stop, logs := r.start(t)
	r.send(t, logs, "first", "Zzz Ledger Pro")
	var kept []pomocore.CategorizedData
	var err error
	if !eventually.Within(20*time.Second, func() bool {
		kept, err = r.kept(t)
		return err == nil && len(kept) == 1
	}) {
		t.Fatalf("the LLM's answer was not stored when it arrived: %+v, %v (calls %d)\n%s", kept, err, r.fake.Calls.Load(), logs.String())
	}
	stop()
	if got := r.score("Uncategorized", "first"); got != 10 {
		t.Errorf("first sighting with no wait: Uncategorized = %v, want 10", got)
	}

	stop2, logs2 := r.start(t)
	r.send(t, logs2, "restarted", "Zzz Ledger Pro")
	stop2()
	if got := r.score("Finance", "restarted"); got != 10 {
		t.Errorf("after a restart: Finance = %v, want 10 from the kept answer", got)
	}
	if n := r.fake.Calls.Load(); n != 1 {
		t.Errorf("LLM calls = %d, want 1 (the restarted process knew the answer)", n)
	}
}

func mustSeoul(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Seoul")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// A pattern reload that gives a category a new id reaches the answers kept
// as they arrive: the kept categorized_data names the category by its
// current id, not the one it had when the classifier was built.
//
// It failed about 1 run in 10 under load ("the LLM's answer was not kept",
// after the reload was logged): the first sighting's Save, classified as
// the default, was written after the answer keeper's KeepAnswers (the two
// queue on SQLite's one connection) and overwrote the answer. A default no
// longer replaces an LLM answer (pipeline.Store; storetest's
// DefaultKeepsAnLLMAnswer).
func TestKeptAnswersUseTheCategoryIDsOfTheLastReload(t *testing.T) {
	r := newLLMRun(t, llmtest.Always("Finance"), map[string]string{"POMOCORE_LLM_WAIT": "0", "POMOCORE_LLM_LINGER": "0",
		"POMOCORE_PATTERN_RELOAD": "20ms"})
	stop, logs := r.start(t)
	defer stop()
	r.send(t, logs, "u", "Xcode") // the store is open

	const newID = "0123456789abcdef01234567"
	db, err := sql.Open("sqlite", "file:"+filepath.Join(r.dataDir, "pomocore.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE category_pattern SET id = ? WHERE category = 'Finance'`, newID); err != nil {
		t.Fatal(err)
	}
	if !eventually.Within(30*time.Second, func() bool { return strings.Contains(logs.String(), "category patterns reloaded") }) {
		t.Fatalf("no reload logged:\n%s", logs.String())
	}
	r.send(t, logs, "u", "Zzz Ledger Pro")
	var kept []pomocore.CategorizedData
	if !eventually.Within(20*time.Second, func() bool {
		kept, err = r.kept(t)
		return err == nil && len(kept) == 1
	}) {
		t.Fatalf("the LLM's answer was not kept: %+v, %v (calls %d)\n%s", kept, err, r.fake.Calls.Load(), logs.String())
	}
	if got := kept[0].CategoryID.Hex(); got != newID {
		t.Errorf("kept answer's categoryId = %s, want Finance's id after the reload, %s", got, newID)
	}
}
