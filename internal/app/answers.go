package app

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/pomocore/pomocore"
	"github.com/pomocore/pomocore/classify"
	"github.com/pomocore/pomocore/pipeline"
)

// answerKeeper stores the LLM's answers as they arrive (the chain's Keep),
// so that a restart, another instance and the learning loop know them
// without a second sighting. It names a category by the id of the last
// pattern build (setIDs), as the pipeline does.
type answerKeeper struct {
	store   pipeline.AnswerKeeper
	ids     atomic.Pointer[map[string]pomocore.ObjectID]
	timeout time.Duration
	log     *slog.Logger
}

// newAnswerKeeper returns a keeper storing into store, naming categories by
// ids until the next setIDs.
func newAnswerKeeper(store pipeline.AnswerKeeper, ids map[string]pomocore.ObjectID, timeout time.Duration, log *slog.Logger) *answerKeeper {
	k := &answerKeeper{store: store, timeout: timeout, log: log}
	k.setIDs(ids)
	return k
}

// setIDs names categories by ids from now on (a pattern reload may give a
// category a new document). It is safe while keep runs.
func (k *answerKeeper) setIDs(ids map[string]pomocore.ObjectID) { k.ids.Store(&ids) }

// keep stores answers, within the keeper's timeout; a failure is logged and
// costs only a question asked again later.
func (k *answerKeeper) keep(answers []classify.Answered) {
	ids := *k.ids.Load()
	docs := make([]pomocore.CategorizedData, 0, len(answers))
	for _, a := range answers {
		id, ok := ids[a.Category]
		if !ok {
			continue // a category without a document: nothing to name it by
		}
		docs = append(docs, pomocore.CategorizedData{App: a.Reported.App, URL: a.Reported.URL, Title: a.Reported.Title, CategoryID: id})
	}
	if len(docs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), k.timeout)
	defer cancel()
	if err := k.store.KeepAnswers(ctx, docs); err != nil {
		k.log.Warn("could not store LLM answers as they arrived; the activities still get them when stored", "answers", len(docs), "err", err)
	}
}
