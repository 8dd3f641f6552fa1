package pipeline

import "context"

// Process runs one batch through validate, classify, store and commit, as
// Run does, for the tests of package pipeline_test.
func (p *Pipeline) Process(ctx context.Context, msgs []Message) error { return p.process(ctx, msgs) }
