package engine

import (
	"bytes"
	"context"
	"log/slog"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/logs"
)

// Every repository's first snapshot has the same id, so a session's base
// snapshot cannot tell which repository the session was made in. Session
// bytes restored into another repository would commit references to chunk
// objects that repository does not hold. The write id of the first entry
// of main's log is random and never changes: it names the repository.

// identity returns the repository's name, reading it once per handle. ok
// is false when it cannot be read (a storage failure, a damaged log): the
// check it serves is then skipped rather than failing the caller.
func (r *Repository) identity(ctx context.Context) ([16]byte, bool) {
	if id := r.id.Load(); id != nil {
		return *id, true
	}
	id, err := r.refs.consensus.EntryID(ctx, branchPrefix+MainBranch, 0)
	if err != nil {
		if logOn(ctx, slog.LevelDebug) {
			logs.Engine.DebugContext(ctx, "the repository's identity could not be read", "err", err)
		}
		return [16]byte{}, false
	}
	r.id.Store(&id)
	return id, true
}

// checkOrigin fails what (a commit, a merge) of changes made in the
// repository origin names, if that is not this one. A nil origin, or an
// identity that cannot be read, passes.
func (r *Repository) checkOrigin(ctx context.Context, origin []byte, what string) error {
	if origin == nil {
		return nil
	}
	id, ok := r.identity(ctx)
	if !ok || bytes.Equal(origin, id[:]) {
		return nil
	}
	return errors.Mark(errors.Newf("cannot %s: the session was serialized in another repository, whose chunks this one does not hold; restore it with a handle of the repository it came from", what), ErrInvalidSessionBytes)
}
