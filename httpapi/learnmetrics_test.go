package httpapi_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/httpapi"
)

// The held-out figures appear once a training succeeded; the counters
// always.
func TestModelCollectorExportsTheLearningFigures(t *testing.T) {
	s := httpapi.ModelStats{Trainings: 3, Failures: 1, Loaded: true, Answers: 7, Promotions: 2}
	reg := prometheus.NewRegistry()
	reg.MustRegister(httpapi.NewModelCollector(func() httpapi.ModelStats { return s }))
	values := func() map[string]float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		v := map[string]float64{}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				name := mf.GetName()
				for _, l := range m.GetLabel() {
					name += "," + l.GetValue()
				}
				v[name] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
		}
		return v
	}
	v := values()
	for name, want := range map[string]float64{"pomocore_model_trainings_total,ok": 2, "pomocore_model_trainings_total,failed": 1,
		"pomocore_model_loaded": 1, "pomocore_model_answers_total": 7, "pomocore_learn_promotions_total": 2} {
		if v[name] != want {
			t.Errorf("%s = %v, want %v", name, v[name], want)
		}
	}
	if _, ok := v["pomocore_model_heldout_accuracy,unseen"]; ok {
		t.Error("held-out figures before any training")
	}
	s.TrainedAt, s.Unseen = time.Unix(1000, 0), classify.Evaluation{Accuracy: 0.75}
	if v := values(); v["pomocore_model_heldout_accuracy,unseen"] != 0.75 || v["pomocore_model_trained_timestamp_seconds"] != 1000 {
		t.Errorf("after a training: %v", v)
	}
}
