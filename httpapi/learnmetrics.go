package httpapi

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pomocore/pomocore/classify"
)

// ModelStats is what the learning loop reports: the last successful
// training's held-out figures (TrainedAt zero until one succeeded), the
// trainings run, whether the chain has a model, the model's answers and
// abstentions, and the patterns promotion added.
type ModelStats struct {
	// Unseen and Revisits are the held-out evaluations on the sites and
	// apps held out whole and on new activities of the known ones.
	Unseen, Revisits classify.Evaluation
	Examples         int
	TrainedAt        time.Time
	Trainings        int64
	Failures         int64
	Loaded           bool
	Answers          int64
	Abstentions      int64
	Promotions       int64
}

// ModelCollector exports the learning loop's figures, read on each scrape.
type ModelCollector struct {
	stats func() ModelStats
}

// NewModelCollector returns a collector over stats; register it.
func NewModelCollector(stats func() ModelStats) *ModelCollector {
	return &ModelCollector{stats: stats}
}

// The held-out figures have a label "held_out": "unseen" for the sites and
// apps held out whole (how the model does on what it never saw),
// "revisit" for new activities of the sites and apps it was trained on.
var (
	descHeldOutAccuracy = prometheus.NewDesc("pomocore_model_heldout_accuracy",
		"Share of the held-out examples the last training's model predicted as labelled, on unseen sites and apps or on revisits.", []string{"held_out"}, nil)
	descCalibration = prometheus.NewDesc("pomocore_model_calibration_error",
		"Expected calibration error of the last training's model on the held-out examples (0 is perfect), on unseen sites and apps or on revisits.", []string{"held_out"}, nil)
	descCoverage = prometheus.NewDesc("pomocore_model_heldout_coverage",
		"Share of the held-out examples the last training's model answers at POMOCORE_MODEL_THRESHOLD, on unseen sites and apps or on revisits.", []string{"held_out"}, nil)
	descAccuracyAbove = prometheus.NewDesc("pomocore_model_heldout_accuracy_at_threshold",
		"Share of the held-out examples answered at POMOCORE_MODEL_THRESHOLD that were answered as labelled (precision), on unseen sites and apps or on revisits.", []string{"held_out"}, nil)
	descExamples = prometheus.NewDesc("pomocore_model_training_examples",
		"Distinct examples the last training used.", nil, nil)
	descTrainedAt = prometheus.NewDesc("pomocore_model_trained_timestamp_seconds",
		"When the last successful training finished (unix seconds).", nil, nil)
	descTrainings = prometheus.NewDesc("pomocore_model_trainings_total",
		"Trainings of the local model run, by result.", []string{"result"}, nil)
	descLoaded = prometheus.NewDesc("pomocore_model_loaded",
		"1 when the classifier has a local model.", nil, nil)
	descModelAnswers = prometheus.NewDesc("pomocore_model_answers_total",
		"Unknown activities the local model answered (confident enough).", nil, nil)
	descModelAbstained = prometheus.NewDesc("pomocore_model_abstentions_total",
		"Unknown activities the local model was asked about and left to the LLM or the default.", nil, nil)
	descPromotions = prometheus.NewDesc("pomocore_learn_promotions_total",
		"Patterns added by promotion of consistent answers.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *ModelCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descHeldOutAccuracy, descCalibration, descCoverage, descAccuracyAbove, descExamples,
		descTrainedAt, descTrainings, descLoaded, descModelAnswers, descModelAbstained, descPromotions} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. The held-out figures appear once
// a training succeeded (a model loaded from its file has none until its
// first retraining).
func (c *ModelCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	if !s.TrainedAt.IsZero() {
		for held, e := range map[string]classify.Evaluation{"unseen": s.Unseen, "revisit": s.Revisits} {
			ch <- prometheus.MustNewConstMetric(descHeldOutAccuracy, prometheus.GaugeValue, e.Accuracy, held)
			ch <- prometheus.MustNewConstMetric(descCalibration, prometheus.GaugeValue, e.ECE, held)
			ch <- prometheus.MustNewConstMetric(descCoverage, prometheus.GaugeValue, e.Coverage, held)
			ch <- prometheus.MustNewConstMetric(descAccuracyAbove, prometheus.GaugeValue, e.AccuracyAbove, held)
		}
		ch <- prometheus.MustNewConstMetric(descExamples, prometheus.GaugeValue, float64(s.Examples))
		ch <- prometheus.MustNewConstMetric(descTrainedAt, prometheus.GaugeValue, float64(s.TrainedAt.UnixNano())/1e9)
	}
	ch <- prometheus.MustNewConstMetric(descTrainings, prometheus.CounterValue, float64(s.Trainings-s.Failures), "ok")
	ch <- prometheus.MustNewConstMetric(descTrainings, prometheus.CounterValue, float64(s.Failures), "failed")
	loaded := 0.0
	if s.Loaded {
		loaded = 1
	}
	ch <- prometheus.MustNewConstMetric(descLoaded, prometheus.GaugeValue, loaded)
	ch <- prometheus.MustNewConstMetric(descModelAnswers, prometheus.CounterValue, float64(s.Answers))
	ch <- prometheus.MustNewConstMetric(descModelAbstained, prometheus.CounterValue, float64(s.Abstentions))
	ch <- prometheus.MustNewConstMetric(descPromotions, prometheus.CounterValue, float64(s.Promotions))
}
