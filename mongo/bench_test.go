package mongo_test

import (
	"context"
	"testing"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/internal/ferrettest"
	"github.com/pomocore/pomocore/mongo"
)

// BenchmarkUpdateByIDOnFixedFerretDB is issue 19's side-by-side setting
// (item 12): FerretDB 1.24 with its _id index fixed, 50,000 pre-created
// usage logs, events naming them by id (the main server's), in batches of
// 200, with statements per document (what auto chooses on FerretDB) and
// with one _id $in per target. The deployed pipeline drained 626 events/s
// there. Reports events/s.
//
//	go test -run '^$' -bench UpdateByIDOnFixedFerretDB -benchtime 5000x ./mongo
func BenchmarkUpdateByIDOnFixedFerretDB(b *testing.B) {
	const existing, batchSize = 50_000, 200
	srv := ferrettest.StartServer(b)
	ctx := context.Background()
	all := idsBatch(existing, 200)
	for i, mode := range []string{"on", "off"} {
		database := "bench" + mode
		st, err := mongo.Open(ctx, mongo.Config{URI: srv.URI, Database: database, PerDocument: mode, Timeout: 5 * time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		// Pre-created as the main server does: inserted (the records
		// without their given ids are the create path), not upserted.
		load := append(all[:0:0], all...)
		for j := range load {
			load[j].Activity.UsageLogID = pomocore.ObjectID{}
		}
		for start := 0; start < existing; start += 5000 {
			if err := st.Save(ctx, load[start:start+5000]); err != nil {
				b.Fatal(err)
			}
		}
		// Fixed once the collections exist; opened again so that Open
		// reads the new plan.
		_ = st.Close(ctx)
		srv.FixIDIndex(database)
		st, err = mongo.Open(ctx, mongo.Config{URI: srv.URI, Database: database, PerDocument: mode, Timeout: 5 * time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		b.Run("PerDocument="+mode, func(b *testing.B) {
			// The events update the most recent logs, as a live drain does,
			// each with a new category.
			n := min(b.N, existing)
			recent := append(all[:0:0], all[existing-n:]...)
			for j := range recent {
				recent[j].CategoryID = [12]byte{0xee, byte(i), byte(b.N)}
			}
			b.ResetTimer()
			for start := 0; start < n; start += batchSize {
				if err := st.Save(ctx, recent[start:min(start+batchSize, n)]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
		})
		_ = st.Close(ctx)
	}
}
