package mongo_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pomocore/pomocore/mongo"
	"github.com/pomocore/pomocore/pipeline"
	"github.com/pomocore/pomocore/pipeline/storetest"
)

// testRegisteredCounters checks that the counters Register puts on a
// registry count what a Save sends, and that registering twice fails.
func testRegisteredCounters(t *testing.T) {
	ctx := context.Background()
	st := open(t, mongo.Config{InsertBatch: 4})
	reg := prometheus.NewRegistry()
	if err := st.Register(reg); err != nil {
		t.Fatal(err)
	}
	var batch []pipeline.Record
	for i := range 10 {
		batch = append(batch, storetest.Rec("u"+strconv.Itoa(i), "app-"+strconv.Itoa(i), "", "t", storetest.Dev))
	}
	if err := st.Save(ctx, batch); err != nil {
		t.Fatal(err)
	}
	s := st.Stats()
	if s.Commands == 0 || s.InsertedDocuments < 20 {
		t.Fatalf("after saving 10 new records: %+v, want commands and >= 20 inserted documents", s)
	}
	for name, want := range map[string]int64{
		"pomocore_mongo_commands_total":           s.Commands,
		"pomocore_mongo_update_statements_total":  s.UpdateStatements,
		"pomocore_mongo_inserted_documents_total": s.InsertedDocuments,
	} {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, mf := range mfs {
			if mf.GetName() == name && len(mf.GetMetric()) == 1 {
				found = true
				if got := mf.GetMetric()[0].GetCounter().GetValue(); got != float64(want) {
					t.Errorf("%s = %v, want %d", name, got, want)
				}
			}
		}
		if !found {
			t.Errorf("%s: not one series on the registry", name)
		}
	}
	if err := st.Register(reg); err == nil {
		t.Error("registering twice on one registry: no error")
	}
}
