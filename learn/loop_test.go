package learn_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/learn"
	"github.com/pomocore/pomocore/learn/learntest"
)

// The loop promotes the answers observed before it ran at once, those
// observed within a second of a check at the end of that second, tells
// Promoted each time, and stops when its context ends.
func TestLoopPromotesObservedAnswersAtMostOncePerSecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := learntest.NewMemory(operatorPatterns())
		sink := &learntest.Sink{}
		tr, err := learn.NewTrainer(learn.Config{}, learn.TrainerDeps{Patterns: store, Sink: sink})
		if err != nil {
			t.Fatal(err)
		}
		promoted := make(chan []learn.Learned, 4)
		loop := learn.NewLoop(learn.LoopDeps{Trainer: tr, Promoter: newPromoter(t, store, learn.Config{Promote: true}),
			Promoted: func(_ context.Context, added []learn.Learned) { promoted <- added }})
		observe := func(host string) {
			for _, k := range []string{"a", "b", "c", "d", "e"} {
				loop.Observe(answer(host+k, "Chrome", host, "Game", pomocore.SourceLLM, 1))
			}
		}
		expect := func(host string) {
			t.Helper()
			select {
			case added := <-promoted:
				if len(added) != 1 || added[0].Pattern != host {
					t.Errorf("promoted %+v, want %s", added, host)
				}
			default:
				t.Fatalf("%s not promoted", host)
			}
		}
		observe("blorp.example")
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- loop.Run(ctx) }()
		synctest.Wait()
		expect("blorp.example")

		observe("zzyzx.example")
		synctest.Wait()
		select {
		case added := <-promoted:
			t.Fatalf("promoted %+v within a second of the last check", added)
		default:
		}
		time.Sleep(time.Second) // the bubble's clock
		synctest.Wait()
		expect("zzyzx.example")
		if n := loop.Promotions(); n != 2 {
			t.Errorf("Promotions = %d, want 2", n)
		}
		if _, n := sink.Model(); n != 0 {
			t.Errorf("%d models set without TrainFirst or an interval", n)
		}

		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run returned %v, want context.Canceled", err)
		}
	})
}

// With TrainFirst, Run trains a model at once; with an interval, again at
// each interval.
func TestLoopTrainsFirstAndEveryInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := learntest.NewMemory(operatorPatterns())
		sink := &learntest.Sink{}
		tr, err := learn.NewTrainer(learn.Config{}, learn.TrainerDeps{Patterns: store, Sink: sink})
		if err != nil {
			t.Fatal(err)
		}
		loop := learn.NewLoop(learn.LoopDeps{Trainer: tr, TrainFirst: true, Interval: time.Hour})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() { _ = loop.Run(ctx) }()
		synctest.Wait()
		if _, runs, _ := tr.Last(); runs != 1 {
			t.Fatalf("%d trainings at start, want 1", runs)
		}
		if m, _ := sink.Model(); m == nil {
			t.Fatal("no model after the first training")
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if _, runs, _ := tr.Last(); runs != 2 {
			t.Errorf("%d trainings after an interval, want 2", runs)
		}
	})
}
