// Package engine is the transactional core: repositories, branches and tags,
// sessions with their change sets, commits, history, diffs, conflict
// detection and rebase, and the Zarr key layer that bindings call.
//
// It follows Icechunk 0.2's session model: a session reads a snapshot and
// records its writes in a change set; a commit flushes the change set to new
// manifests, a transaction log and a snapshot, then moves the branch with a
// compare-and-set on the branch's consensus log.
package engine

import (
	"fmt"
	"strings"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
)

// Error kinds, compared with errors.Is. Messages name what was wrong; the
// kinds are what bindings map to their own error types.
var (
	ErrReadOnly            = errors.New("read-only session cannot modify the repository")
	ErrNodeNotFound        = errors.New("node not found")
	ErrNotAnArray          = errors.New("not an array")
	ErrNotAGroup           = errors.New("not a group")
	ErrAlreadyExists       = errors.New("node already exists")
	ErrInvalidIndex        = errors.New("invalid chunk index")
	ErrInvalidPath         = errors.New("invalid node path")
	ErrInvalidKey          = errors.New("invalid zarr key")
	ErrInvalidMetadata     = errors.New("invalid zarr metadata")
	ErrInvalidArgument     = errors.New("invalid argument")
	ErrNoChangesToCommit   = errors.New("no changes to commit")
	ErrConflict            = errors.New("branch update conflict")
	ErrRebaseFailed        = errors.New("rebase failed")
	ErrSnapshotNotFound    = errors.New("snapshot not found")
	ErrBranchNotFound      = errors.New("branch not found")
	ErrBranchExists        = errors.New("branch already exists")
	ErrTagNotFound         = errors.New("tag not found")
	ErrTagExists           = errors.New("tag already exists")
	ErrRepositoryExists    = errors.New("repository already exists")
	ErrRepositoryNotFound  = errors.New("repository not found")
	ErrBadSnapshotChain    = errors.New("`to` snapshot ancestry doesn't include `from`")
	ErrTxLogsDisabled      = errors.New("transaction logs are disabled")
	ErrInvalidTimestamp    = errors.New("invalid snapshot timestamp")
	ErrVirtualChunk        = errors.New("virtual chunk error")
	ErrChunkNotFound       = errors.New("chunk not found")
	ErrInvalidSessionBytes = errors.New("invalid serialized session")
)

// ConflictError says a commit found its branch moved: the session was based
// on ExpectedParent but the branch tip is ActualParent (zero: the branch
// does not exist). It matches ErrConflict.
type ConflictError struct {
	Branch         string
	ExpectedParent codec.SnapshotID
	ActualParent   codec.SnapshotID

	// lostRace is set when the commit wrote its objects and then lost the
	// compare-and-set to another writer, rather than finding the branch
	// moved before writing anything.
	lostRace bool
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("branch update conflict on %q: expected parent %s, actual parent %s", e.Branch, e.ExpectedParent, e.ActualParent)
}

// Is makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

func nodeNotFound(path Path, why string) error {
	return errors.Mark(errors.Newf("node not found at %q: %s", path, why), ErrNodeNotFound)
}

func notAnArray(path Path, why string) error {
	return errors.Mark(errors.Newf("there is not an array at %q: %s", path, why), ErrNotAnArray)
}

func notAGroup(path Path, why string) error {
	return errors.Mark(errors.Newf("there is not a group at %q: %s", path, why), ErrNotAGroup)
}

func alreadyExists(path Path, kind NodeType, why string) error {
	return errors.Mark(errors.Newf("node already exists at %q (%s): %s", path, kind, why), ErrAlreadyExists)
}

// invalidIndex is the error for chunk coordinates outside the grid of the
// array a at path; it gives the grid, so that the caller sees what fits.
func invalidIndex(path Path, a *codec.ArrayData, coords []uint32) error {
	grid := gridShape(a)
	if len(coords) != len(grid) {
		return errors.Mark(errors.Newf("invalid chunk index: the array at %q has %d dimensions (chunk grid %v), coordinates %v give %d",
			path, len(grid), grid, coords, len(coords)), ErrInvalidIndex)
	}
	return errors.Mark(errors.Newf("invalid chunk index: coordinates %v are outside the chunk grid %v of the array at %q (shape %v, chunk shape %v)",
		coords, grid, path, a.Shape, a.ChunkShape), ErrInvalidIndex)
}

func invalidArgument(format string, args ...any) error {
	return errors.Mark(errors.Newf(format, args...), ErrInvalidArgument)
}

func readOnly(what string) error {
	return errors.Mark(errors.Newf("cannot %s: the session is read-only", what), ErrReadOnly)
}

func formatCoords(list [][]uint32) string {
	parts := make([]string, len(list))
	for i, c := range list {
		parts[i] = fmt.Sprint(c)
	}
	return strings.Join(parts, ", ")
}
