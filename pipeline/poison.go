package pipeline

// What makes an entry fail on its own while it is prepared (a panic of
// the validator or the classifier), and when such an entry is poison.

import (
	"errors"
	"fmt"
	"runtime/debug"

	"github.com/pomocore/pomocore"
)

// panicError is a panic of the validator or the classifier on one entry.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string {
	return fmt.Sprintf("validating or classifying panicked: %v", e.value)
}

// safePrepare is prepare, with a panic turned into a *panicError: an entry
// that panics the validator or the classifier fails on its own.
func (p *Pipeline) safePrepare(m *Message, rs *rules, force *pomocore.Classification) (rec Record, entry CommitEntry, awaited pomocore.Awaited, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &panicError{value: v, stack: debug.Stack()}
		}
	}()
	return p.prepare(m, rs, force)
}

// failedAlone handles an entry (message and commit entry index i of b)
// that failed on its own: over the delivery limit it is poison and the
// caller dead-letters it (true); under it, it is left pending, to be
// redelivered after ClaimIdle with one delivery more (false). Either way
// it is logged at error level.
func (p *Pipeline) failedAlone(b *preparedBatch, m *Message, i int, err error) bool {
	if m.Deliveries > p.cfg.MaxDeliveries {
		p.log.Error("poison entry: it fails on its own and was delivered more than the limit; dead-lettered as too_many_deliveries",
			"entry", m.ID, "deliveries", m.Deliveries, "limit", p.cfg.MaxDeliveries, "err", err, "stack", stackOf(err))
		return true
	}
	p.log.Error("entry fails on its own; left pending, redelivered after the claim idle time (dead-lettered once over the delivery limit)",
		"entry", m.ID, "deliveries", m.Deliveries, "limit", p.cfg.MaxDeliveries, "err", err, "stack", stackOf(err))
	b.leavePending(i)
	return false
}

// leavePending marks b's entry i to be left pending (not committed).
func (b *preparedBatch) leavePending(i int) {
	if b.pending == nil {
		b.pending = map[int]bool{}
	}
	b.pending[i] = true
}

// poison is the dead-letter reason of a poison entry.
func (p *Pipeline) poison(m *Message, err error) error {
	return &pomocore.InvalidError{Kind: "too_many_deliveries",
		Detail: fmt.Sprintf("delivered %d times, more than the limit of %d, and fails on its own: %v", m.Deliveries, p.cfg.MaxDeliveries, err)}
}

func stackOf(err error) string {
	var pe *panicError
	if errors.As(err, &pe) {
		return string(pe.stack)
	}
	return ""
}
