package httpapi_test

import (
	"bytes"
	"context"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.yaml.in/yaml/v3"

	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/httpapi"
	"github.com/pomocore/pomocore/internal/tool"
)

// registry is the metrics registry as `pomocore run` fills it, before
// anything has happened.
func registry(t *testing.T) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	httpapi.NewMetrics(reg)
	reg.MustRegister(httpapi.NewGroupCollector(fakeGroup{}), httpapi.NewLLMCollector(func() classify.ChainStats { return classify.ChainStats{} }, func() int64 { return 0 }),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// series returns every gathered series as name{label=value,...} -> value.
func series(t *testing.T, reg prometheus.Gatherer) map[string]map[string]float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]float64{}
	for _, f := range fams {
		out[f.GetName()] = map[string]float64{}
		for _, m := range f.GetMetric() {
			var lbl string
			for _, l := range m.GetLabel() {
				lbl += l.GetName() + "=" + l.GetValue() + ","
			}
			out[f.GetName()][lbl] = m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return out
}

// Every error counter is there at zero before the first error, so that a
// panel or an alert over it shows 0, not "no data"; read failures have
// their own label; the build is named.
func TestErrorCountersExistAtZeroAndTheBuildIsNamed(t *testing.T) {
	s := series(t, registry(t))
	for _, call := range []string{"read", "store", "commit"} {
		v, ok := s["pomocore_call_errors_total"]["call="+call+","]
		if !ok || v != 0 {
			t.Errorf("pomocore_call_errors_total{call=%q}: present %v, value %v", call, ok, v)
		}
	}
	if len(s["pomocore_events_dead_lettered_total"]) == 0 {
		t.Error("pomocore_events_dead_lettered_total has no series before the first dead letter")
	}
	bi := s["pomocore_build_info"]
	if len(bi) != 1 {
		t.Fatalf("pomocore_build_info: %v", bi)
	}
	for lbl, v := range bi {
		if v != 1 || !regexp.MustCompile(`goversion=go1\.[^,]+,revision=[^,]+,version=[^,]+,`).MatchString(lbl) {
			t.Errorf("pomocore_build_info{%s} = %v", lbl, v)
		}
	}
}

func TestReadFailuresAreCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := httpapi.NewMetrics(reg)
	m.CallFailed("read", context.DeadlineExceeded)
	if v := series(t, reg)["pomocore_call_errors_total"]["call=read,"]; v != 1 {
		t.Errorf("call_errors_total{call=read} = %v after one failed read", v)
	}
}

// The alert rules shipped in deploy/prometheus name only metrics that
// pomocore exports, and cover what an operator must hear about.
func TestAlertRulesNameExistingMetrics(t *testing.T) {
	path := filepath.Join("..", "deploy", "prometheus", "alerts.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(b, &file); err != nil {
		t.Fatal(err)
	}
	s := series(t, registry(t))
	var alerts []string
	metric := regexp.MustCompile(`\bpomocore_[a-z_]+`)
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			names := metric.FindAllString(r.Expr, -1)
			if len(names) == 0 {
				t.Errorf("%s: names no pomocore metric: %s", r.Alert, r.Expr)
			}
			for _, n := range names {
				base := regexp.MustCompile(`_(bucket|sum|count)$`).ReplaceAllString(n, "")
				if _, ok := s[n]; !ok && s[base] == nil {
					t.Errorf("%s: %s is not exported", r.Alert, n)
				}
			}
		}
	}
	for _, want := range []string{"PomocoreLagGrowing", "PomocoreDeadLetters", "PomocoreLLMBreakerOpen", "PomocoreStoreErrors", "PomocoreNoCommits"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no alert %s in %s (have %v)", want, path, alerts)
		}
	}
}

// promtool checks the rules and runs their unit tests
// (deploy/prometheus/alerts_test.yaml).
func TestAlertRulesWithPromtool(t *testing.T) {
	if _, err := exec.LookPath("promtool"); err != nil {
		tool.Require(t, "promtool")
	}
	dir := filepath.Join("..", "deploy", "prometheus")
	for _, args := range [][]string{{"check", "rules", "alerts.yaml"}, {"test", "rules", "alerts_test.yaml"}} {
		var out bytes.Buffer
		cmd := exec.Command("promtool", args...)
		cmd.Dir, cmd.Stdout, cmd.Stderr = dir, &out, &out
		if err := cmd.Run(); err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out.String())
		}
	}
}

// The LLM collector reads the chain's fallback counters and the endpoint's
// tokens on each scrape.
func TestLLMCollectorReadsTheChainAndTheTokens(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(httpapi.NewLLMCollector(func() classify.ChainStats {
		return classify.ChainStats{Calls: 3, Failures: 1, Answered: 2, CacheHits: 5, Dropped: 4, BreakerOpen: true, ModelAnswers: 9}
	}, func() int64 { return 700 }))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		m := mf.GetMetric()[0]
		if c := m.GetCounter(); c != nil {
			got[mf.GetName()] = c.GetValue()
		} else {
			got[mf.GetName()] = m.GetGauge().GetValue()
		}
	}
	want := map[string]float64{"pomocore_llm_calls_total": 3, "pomocore_llm_errors_total": 1, "pomocore_llm_answered_total": 2,
		"pomocore_llm_cache_hits_total": 5, "pomocore_llm_dropped_total": 4, "pomocore_llm_tokens_total": 700, "pomocore_llm_breaker_open": 1}
	if !maps.Equal(got, want) {
		t.Errorf("metrics = %v\nwant %v", got, want)
	}
}
