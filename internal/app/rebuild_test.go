package app

import (
	"reflect"
	"testing"
	"time"
)

func TestPlanRebuild(t *testing.T) {
	seoul, _ := time.LoadLocation("Asia/Seoul")
	// 2026-11-23 (Mon) .. 2026-11-30 (Mon): W48 whole, W49 cut, November cut.
	p, err := PlanRebuild("2026-11-23", "2026-11-30", seoul)
	if err != nil {
		t.Fatal(err)
	}
	if p.Days != 8 || p.Weeks != 1 || p.Months != 0 || !p.periods["2026-W48"] || p.periods["2026-W49"] || p.periods["2026-M11"] {
		t.Errorf("plan = %+v", p)
	}
	if !reflect.DeepEqual(p.Partial, []string{"2026-M11", "2026-W49"}) {
		t.Errorf("partial = %v", p.Partial)
	}
	if p, _ := PlanRebuild("2026-02-01", "2026-02-28", seoul); !p.periods["2026-M2"] {
		t.Errorf("February whole: %+v", p)
	}
	for _, bad := range [][2]string{{"x", "2026-11-01"}, {"2026-11-02", "2026-11-01"}} {
		if _, err := PlanRebuild(bad[0], bad[1], seoul); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
