package eval

import (
	"bytes"
	"strings"
	"testing"

	"github.com/pomocore/pomocore"
)

// byApp classifies by app name alone.
type byApp map[string]string

func (m byApp) Classify(app, _, _ string) pomocore.Classification {
	if c, ok := m[app]; ok {
		return pomocore.Classification{Category: c, Source: pomocore.SourceApp}
	}
	return pomocore.Classification{Category: "Uncategorized", Source: pomocore.SourceDefault}
}

func TestEvaluateCountsPrecisionRecallAndConfusions(t *testing.T) {
	data := strings.NewReader(`{"app":"Xcode","category":"Development"}

// a comment
{"app":"Steam","category":"Game"}
{"app":"Zed","category":"Development"}
`)
	r, err := Evaluate(byApp{"Xcode": "Development", "Steam": "Game"}, data)
	if err != nil {
		t.Fatal(err)
	}
	if r.Total != 3 || r.Correct != 2 || r.Confusions[[2]string{"Development", "Uncategorized"}] != 1 ||
		*r.PerCategory["Development"] != (Score{TP: 1, FN: 1}) || *r.PerCategory["Uncategorized"] != (Score{FP: 1}) {
		t.Errorf("report = %+v", r)
	}
	var out bytes.Buffer
	r.Print(&out)
	for _, want := range []string{"accuracy: 66.7% (2 of 3)", "Development", "1  Development -> Uncategorized"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestEvaluateRefusesUnlabelledAndBadLines(t *testing.T) {
	for in, want := range map[string]string{`{"app":"Xcode"}`: "line 1: no category label", "\n{": "line 2", "": "no labelled rows"} {
		if _, err := Evaluate(byApp{}, strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error saying %q", in, err, want)
		}
	}
}
