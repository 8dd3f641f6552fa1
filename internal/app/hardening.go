package app

import (
	"context"
)

// resumePosition is the reader's Resume: the stream id of the newest usage
// log in the store, where a vanished group is recreated when Redis
// recorded no position ("" when unknown).
func (a *App) resumePosition(ctx context.Context) (string, error) {
	return "", nil // TODO(helper-19): the store's newest usage log
}

// claimPartition records in the store that this input stream owns the
// settings' partition, refusing to start when another stream does.
func (a *App) claimPartition(ctx context.Context, st Store) error {
	return nil // TODO(helper-19): pipeline.PartitionClaimer
}
