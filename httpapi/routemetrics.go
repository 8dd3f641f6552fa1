package httpapi

import (
	"context"
	"strconv"
	"time"

	"github.com/pomocore/pomocore/route"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	routeEntriesDesc = prometheus.NewDesc("pomocore_route_entries_total",
		"Source entries handled by this process's router, by outcome: routed (added to a partition stream), already (found routed), deleted (gone from the source).", []string{"outcome"}, nil)
	routePartitionDesc = prometheus.NewDesc("pomocore_route_partition_entries_total",
		"Entries this process's router added to each partition stream.", []string{"partition"}, nil)
	routeHoldingDesc = prometheus.NewDesc("pomocore_route_holding",
		"1 while this process holds the router role.", nil, nil)
	routeFencedDesc = prometheus.NewDesc("pomocore_route_fenced_total",
		"Writes of this process's router refused because a newer router took over.", nil, nil)
	routeLagDesc = prometheus.NewDesc("pomocore_route_source_lag",
		"Entries of the source stream not yet delivered to the router (the source group's lag; -1 unknown).", nil, nil)
	routePendingDesc = prometheus.NewDesc("pomocore_route_source_pending",
		"Entries of the source stream delivered to the router and not yet routed.", nil, nil)
)

// RouteSource is what the router's metrics read of the source stream on
// each scrape: its group's lag and the entries delivered to the router and
// not yet routed. Called from the scraping goroutine.
type RouteSource interface {
	Lag(ctx context.Context) (lag, pending int64, err error)
}

// NewRouteCollector returns the collector of the router's metrics
// (POMOCORE_PARTITIONS > 1): its counters in stats, for n partitions, and
// the source's lag read from src on each scrape (within 2 seconds; left
// out when it cannot be read).
func NewRouteCollector(stats *route.Stats, src RouteSource, n int) prometheus.Collector {
	return &routeCollector{r: stats, src: src, n: n}
}

// routeCollector is NewRouteCollector's collector.
type routeCollector struct {
	r   *route.Stats
	src RouteSource
	n   int
}

func (c *routeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{routeEntriesDesc, routePartitionDesc, routeHoldingDesc, routeFencedDesc, routeLagDesc, routePendingDesc} {
		ch <- d
	}
}

func (c *routeCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(routeEntriesDesc, prometheus.CounterValue, float64(c.r.Routed.Load()), "routed")
	ch <- prometheus.MustNewConstMetric(routeEntriesDesc, prometheus.CounterValue, float64(c.r.Already.Load()), "already")
	ch <- prometheus.MustNewConstMetric(routeEntriesDesc, prometheus.CounterValue, float64(c.r.Deleted.Load()), "deleted")
	for p := range c.n {
		ch <- prometheus.MustNewConstMetric(routePartitionDesc, prometheus.CounterValue, float64(c.r.PerPartition[p].Load()), strconv.Itoa(p))
	}
	ch <- prometheus.MustNewConstMetric(routeHoldingDesc, prometheus.GaugeValue, float64(c.r.Holding.Load()))
	ch <- prometheus.MustNewConstMetric(routeFencedDesc, prometheus.CounterValue, float64(c.r.Fenced.Load()))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if lag, pending, err := c.src.Lag(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(routeLagDesc, prometheus.GaugeValue, float64(lag))
		ch <- prometheus.MustNewConstMetric(routePendingDesc, prometheus.GaugeValue, float64(pending))
	}
}
