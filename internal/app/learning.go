package app

import (
	"context"

	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/pipeline"
)

// learning is the running learning loop of Run: the model in the chain,
// its trainer and promoter, and what the unknowns panel is fed.
type learning struct{}

// startLearning loads or trains the local model into chain and starts the
// trainer (and, with POMOCORE_LEARN_PROMOTE, the promoter) until ctx ends.
func (a *App) startLearning(ctx context.Context, chain *classify.Chain, st Store) (*learning, error) {
	return &learning{}, nil // TODO(helper-17)
}

// observer returns the pipeline observer of Run: obs, plus what learning
// needs to see of each batch.
func (l *learning) observer(obs pipeline.Observer) pipeline.Observer {
	return obs
}
