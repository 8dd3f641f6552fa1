package storetest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/pomocore/pomocore/pipeline/storetest"
)

func TestMemoryPassesTheContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Harness { return storetest.NewMemory() })
}

func TestMemoryFailNext(t *testing.T) {
	m := storetest.NewMemory()
	boom := errors.New("boom")
	m.FailNext(2, boom)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if err := m.Save(ctx, nil); !errors.Is(err, boom) {
			t.Fatalf("save %d = %v, want boom", i, err)
		}
	}
	if err := m.Save(ctx, nil); err != nil || m.Saves() != 1 {
		t.Fatalf("third save = %v, saves %d", err, m.Saves())
	}
}
