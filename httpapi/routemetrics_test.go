package httpapi_test

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pomocore/pomocore/httpapi"
	"github.com/pomocore/pomocore/route"
)

// lagSource is a RouteSource with a fixed answer.
type lagSource struct {
	lag, pending int64
	err          error
}

func (s lagSource) Lag(context.Context) (int64, int64, error) { return s.lag, s.pending, s.err }

// The router's metrics are read from its counters and the source on each
// scrape; a source that cannot answer leaves its two gauges out, not at 0.
func TestRouteCollectorReadsTheRoutersCountersAndTheSourceLag(t *testing.T) {
	var st route.Stats
	st.Routed.Store(7)
	st.Already.Store(2)
	st.Holding.Store(1)
	st.PerPartition[1].Store(5)
	reg := prometheus.NewRegistry()
	reg.MustRegister(httpapi.NewRouteCollector(&st, lagSource{lag: 3, pending: 4}, 2))
	got := gathered(t, reg)
	for name, want := range map[string]float64{
		`pomocore_route_entries_total{outcome="routed"}`: 7, `pomocore_route_entries_total{outcome="already"}`: 2,
		`pomocore_route_entries_total{outcome="deleted"}`: 0, `pomocore_route_partition_entries_total{partition="1"}`: 5,
		`pomocore_route_partition_entries_total{partition="0"}`: 0, "pomocore_route_holding": 1,
		"pomocore_route_source_lag": 3, "pomocore_route_source_pending": 4,
	} {
		if v, ok := got[name]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", name, v, ok, want)
		}
	}
	if _, ok := got[`pomocore_route_partition_entries_total{partition="2"}`]; ok {
		t.Error("a series for partition 2 of 2")
	}
	down := prometheus.NewRegistry()
	down.MustRegister(httpapi.NewRouteCollector(&st, lagSource{err: errors.New("redis down")}, 2))
	got = gathered(t, down)
	if _, ok := got["pomocore_route_source_lag"]; ok {
		t.Error("with the source unreadable, pomocore_route_source_lag was reported")
	}
	if _, ok := got["pomocore_route_source_pending"]; ok {
		t.Error("with the source unreadable, pomocore_route_source_pending was reported")
	}
}

// gathered returns every series of reg by name{labels} with its value.
func gathered(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			if lp := m.GetLabel(); len(lp) > 0 {
				name += "{" + lp[0].GetName() + `="` + lp[0].GetValue() + `"}`
			}
			switch {
			case m.GetCounter() != nil:
				out[name] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[name] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}
