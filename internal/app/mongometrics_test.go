package app

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pomocore/pomocore/internal/ferrettest"
)

// With MONGO_URI the application's registry (served on /metrics) carries
// the MongoDB store's counters of what it sent.
func TestMongoStoreCountersOnTheRegistry(t *testing.T) {
	cfg := Defaults()
	cfg.Mongo.URI = ferrettest.Start(t)
	cfg.Mongo.Database = "appmetrics"
	reg := prometheus.NewRegistry()
	a, err := New(cfg, Deps{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Store(context.Background()); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"pomocore_mongo_commands_total": true, "pomocore_mongo_update_statements_total": true, "pomocore_mongo_inserted_documents_total": true}
	for _, mf := range mfs {
		delete(want, mf.GetName())
	}
	if len(want) != 0 {
		t.Errorf("the registry lacks %v", want)
	}
}
