package main

/*
#include "capi.h"
*/
import "C"

import (
	"context"
	"time"

	"github.com/icechunk-go/icechunk-go/engine"
)

// inSolver converts an ic_solver into the engine's ConflictSolver.
func inSolver(p *C.ic_csolver) (engine.ConflictSolver, error) {
	if p == nil {
		return nil, invalidArg("solver is NULL")
	}
	switch p.kind {
	case C.IC_SOLVER_DETECTOR:
		return engine.ConflictDetector{}, nil
	case C.IC_SOLVER_BASIC:
		var on engine.VersionSelection
		switch p.on_chunk_conflict {
		case C.IC_USE_OURS:
			on = engine.UseOurs
		case C.IC_USE_THEIRS:
			on = engine.UseTheirs
		case C.IC_FAIL:
			on = engine.Fail
		default:
			return nil, invalidArg("solver.on_chunk_conflict is %d, not an ic_version_selection value", int(p.on_chunk_conflict))
		}
		return engine.BasicConflictSolver{
			OnChunkConflict:            on,
			FailOnDeleteOfUpdatedArray: p.fail_on_delete_of_updated_array != 0,
			FailOnDeleteOfUpdatedGroup: p.fail_on_delete_of_updated_group != 0,
		}, nil
	}
	return nil, invalidArg("solver.kind is %d, not an ic_solver_kind value", int(p.kind))
}

//export ic_session_rebase
func ic_session_rebase(session C.ic_session, solver *C.ic_csolver, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		sol, err := inSolver(solver)
		if err != nil {
			return err
		}
		return s.Rebase(ctx, sol)
	})
}

// maxBackoffMS bounds the backoff delays (a day), so that a garbage value
// cannot overflow a time.Duration.
const maxBackoffMS = 24 * 60 * 60 * 1000

//export ic_session_commit_rebasing
func ic_session_commit_rebasing(session C.ic_session, solver *C.ic_csolver, message, metadataJSON *C.ic_cchar, attempts C.uint32_t, baseDelayMS, maxDelayMS C.uint64_t, snapshotID **C.char, errOut *C.ic_error) C.ic_status {
	return withSession(session, errOut, func(s *engine.Session, ctx context.Context) error {
		sol, err := inSolver(solver)
		if err != nil {
			return err
		}
		msg, meta, err := inCommit(message, metadataJSON)
		if err != nil {
			return err
		}
		if baseDelayMS > maxBackoffMS || maxDelayMS > maxBackoffMS {
			return invalidArg("backoff delays must be at most %d ms", maxBackoffMS)
		}
		opts := engine.RetryOptions{
			Attempts:  int(attempts),
			BaseDelay: time.Duration(baseDelayMS) * time.Millisecond,
			MaxDelay:  time.Duration(maxDelayMS) * time.Millisecond,
		}
		id, err := s.CommitRebasing(ctx, sol, msg, meta, opts)
		if err != nil {
			return err
		}
		if snapshotID == nil {
			return nil
		}
		return setString(snapshotID, id.String())
	})
}
