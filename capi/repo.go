package main

/*
#include "capi.h"
*/
import "C"

import (
	"context"
	"strings"
	"time"
	"unsafe"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/engine"
)

func lookupRepo(h C.ic_repo) (*engine.Repository, error) {
	return lookup[*engine.Repository](uint64(h), kindRepo)
}

func newRepoHandle(r *engine.Repository, out *C.ic_repo) error {
	h, err := handles.add(kindRepo, r)
	if err != nil {
		return err
	}
	*out = C.ic_repo(h)
	return nil
}

// inConfig reads an optional configuration over the defaults.
func inConfig(p *C.ic_cchar) (*codec.RepoConfig, error) {
	s, ok, err := inOptString(p, "config_json")
	if err != nil || !ok {
		return nil, err
	}
	cfg, err := applyConfig(codec.DefaultRepoConfig(), s, "config_json")
	if err != nil {
		return nil, err
	}
	return &cfg, nil
}

// inSnapshotID parses a required snapshot id. A caller's id may be in
// lower case (typed, or from a case-folding tool): Crockford base32 is
// read without regard to case, though ids are written and stored in upper
// case only.
func inSnapshotID(p *C.ic_cchar, what string) (codec.SnapshotID, error) {
	s, err := inString(p, what)
	if err != nil {
		return codec.SnapshotID{}, err
	}
	id, err := codec.ParseSnapshotID(strings.ToUpper(s))
	if err != nil {
		_, err = codec.ParseSnapshotID(s) // the error quotes what was given
		return codec.SnapshotID{}, errors.Mark(errors.Wrapf(err, "%s", what), errInvalidArgument)
	}
	if id.IsZero() {
		return codec.SnapshotID{}, invalidArg("%s is the zero id, which names no snapshot", what)
	}
	return id, nil
}

// inVersion converts an ic_version.
func inVersion(p *C.ic_cversion, what string) (engine.Version, error) {
	if p == nil {
		return engine.Version{}, invalidArg("%s is NULL", what)
	}
	var v engine.Version
	kind, asOf := p.kind, int64(p.as_of_unix_nanos)
	if asOf != 0 && kind != C.IC_AT_BRANCH {
		return v, invalidArg("%s: as_of_unix_nanos is only for IC_AT_BRANCH", what)
	}
	switch kind {
	case C.IC_AT_BRANCH:
		name, err := inString((*C.ic_cchar)(p.name), what+".name")
		if err != nil {
			return v, err
		}
		v.Branch = name
		if asOf != 0 {
			v.AsOf = time.Unix(0, asOf)
		}
	case C.IC_AT_TAG:
		name, err := inString((*C.ic_cchar)(p.name), what+".name")
		if err != nil {
			return v, err
		}
		v.Tag = name
	case C.IC_AT_SNAPSHOT:
		id, err := inSnapshotID((*C.ic_cchar)(p.name), what+".name")
		if err != nil {
			return v, err
		}
		v.Snapshot = id
	default:
		return v, invalidArg("%s.kind is %d, not an ic_version_kind value", what, int(kind))
	}
	if v.Branch == "" && v.Tag == "" && v.Snapshot.IsZero() {
		return v, invalidArg("%s.name is empty", what)
	}
	return v, nil
}

func openRepo(out *C.ic_repo, open func(ctx context.Context) (*engine.Repository, error)) error {
	if err := needOut(unsafe.Pointer(out), "out"); err != nil {
		return err
	}
	var r *engine.Repository
	err := withContext(func(ctx context.Context) (err error) {
		r, err = open(ctx)
		return err
	})
	if err != nil {
		return err
	}
	return newRepoHandle(r, out)
}

//export ic_repo_create
func ic_repo_create(st C.ic_storage, configJSON *C.ic_cchar, out *C.ic_repo, errOut *C.ic_error) C.ic_status {
	return call(errOut, func() error {
		s, err := lookupStorage(st)
		if err != nil {
			return err
		}
		cfg, err := inConfig(configJSON)
		if err != nil {
			return err
		}
		return openRepo(out, func(ctx context.Context) (*engine.Repository, error) { return engine.Create(ctx, s, cfg, nil) })
	})
}

//export ic_repo_open
func ic_repo_open(st C.ic_storage, out *C.ic_repo, errOut *C.ic_error) C.ic_status {
	return call(errOut, func() error {
		s, err := lookupStorage(st)
		if err != nil {
			return err
		}
		return openRepo(out, func(ctx context.Context) (*engine.Repository, error) { return engine.Open(ctx, s, nil) })
	})
}

//export ic_repo_open_config
func ic_repo_open_config(st C.ic_storage, configJSON *C.ic_cchar, out *C.ic_repo, errOut *C.ic_error) C.ic_status {
	return call(errOut, func() error {
		s, err := lookupStorage(st)
		if err != nil {
			return err
		}
		js, given, err := inOptString(configJSON, "config_json")
		if err != nil {
			return err
		}
		// The settings the caller gives are checked, and their storage
		// part used for the reads that open, before anything is read.
		var opts *engine.Options
		if given {
			over, err := applyConfig(codec.DefaultRepoConfig(), js, "config_json")
			if err != nil {
				return err
			}
			opts = &engine.Options{OpenSettings: over.Storage}
		}
		return openRepo(out, func(ctx context.Context) (*engine.Repository, error) {
			r, err := engine.Open(ctx, s, opts)
			if err != nil || !given {
				return r, err
			}
			cfg, err := applyConfig(r.Config(), js, "config_json")
			if err == nil {
				err = r.UseConfig(cfg)
			}
			return r, err
		})
	})
}

//export ic_repo_open_or_create
func ic_repo_open_or_create(st C.ic_storage, configJSON *C.ic_cchar, out *C.ic_repo, errOut *C.ic_error) C.ic_status {
	return call(errOut, func() error {
		s, err := lookupStorage(st)
		if err != nil {
			return err
		}
		cfg, err := inConfig(configJSON)
		if err != nil {
			return err
		}
		return openRepo(out, func(ctx context.Context) (*engine.Repository, error) { return engine.OpenOrCreate(ctx, s, cfg, nil) })
	})
}

//export ic_repo_exists
func ic_repo_exists(st C.ic_storage, exists *C.int32_t, errOut *C.ic_error) C.ic_status {
	return call(errOut, func() error {
		s, err := lookupStorage(st)
		if err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(exists), "exists"); err != nil {
			return err
		}
		var ok bool
		err = withContext(func(ctx context.Context) (err error) {
			ok, err = engine.Exists(ctx, s)
			return err
		})
		if err != nil {
			return err
		}
		*exists = cBool(ok)
		return nil
	})
}

//export ic_repo_free
func ic_repo_free(repo C.ic_repo) C.ic_status {
	return call(nil, func() error {
		if repo == 0 {
			return nil
		}
		_, err := handles.remove(uint64(repo), kindRepo)
		return err
	})
}

// withRepo runs fn with the repository of h, for the exports below.
func withRepo(h C.ic_repo, errOut *C.ic_error, fn func(r *engine.Repository, ctx context.Context) error) C.ic_status {
	return call(errOut, func() error {
		r, err := lookupRepo(h)
		if err != nil {
			return err
		}
		return withContext(func(ctx context.Context) error { return fn(r, ctx) })
	})
}

//export ic_repo_config_get
func ic_repo_config_get(repo C.ic_repo, json **C.char, errOut *C.ic_error) C.ic_status {
	return withRepo(repo, errOut, func(r *engine.Repository, _ context.Context) error {
		if err := needOut(unsafe.Pointer(json), "json"); err != nil {
			return err
		}
		return setJSON(json, configOf(r.Config()))
	})
}

//export ic_repo_config_set
func ic_repo_config_set(repo C.ic_repo, json *C.ic_cchar, errOut *C.ic_error) C.ic_status {
	return withRepo(repo, errOut, func(r *engine.Repository, ctx context.Context) error {
		cfg, err := configOver(r, json)
		if err != nil {
			return err
		}
		return r.SaveConfig(ctx, cfg)
	})
}

// configOver is the handle's configuration with the JSON json applied over it.
func configOver(r *engine.Repository, json *C.ic_cchar) (codec.RepoConfig, error) {
	s, err := inString(json, "json")
	if err != nil {
		return codec.RepoConfig{}, err
	}
	return applyConfig(r.Config(), s, "json")
}

//export ic_repo_use_config
func ic_repo_use_config(repo C.ic_repo, json *C.ic_cchar, errOut *C.ic_error) C.ic_status {
	return withRepo(repo, errOut, func(r *engine.Repository, _ context.Context) error {
		cfg, err := configOver(r, json)
		if err != nil {
			return err
		}
		return r.UseConfig(cfg)
	})
}

//export ic_repo_set_default_commit_metadata
func ic_repo_set_default_commit_metadata(repo C.ic_repo, json *C.ic_cchar, errOut *C.ic_error) C.ic_status {
	return withRepo(repo, errOut, func(r *engine.Repository, _ context.Context) error {
		s, err := inString(json, "json")
		if err != nil {
			return err
		}
		meta, err := jsonObject(s, "json")
		if err != nil {
			return err
		}
		r.SetDefaultCommitMetadata(meta)
		return nil
	})
}

//export ic_repo_default_commit_metadata
func ic_repo_default_commit_metadata(repo C.ic_repo, json **C.char, errOut *C.ic_error) C.ic_status {
	return withRepo(repo, errOut, func(r *engine.Repository, _ context.Context) error {
		if err := needOut(unsafe.Pointer(json), "json"); err != nil {
			return err
		}
		meta := r.DefaultCommitMetadata()
		if meta == nil {
			meta = map[string]any{}
		}
		return setJSON(json, meta)
	})
}

//export ic_repo_set_virtual_chunk_storage
func ic_repo_set_virtual_chunk_storage(repo C.ic_repo, urlPrefix *C.ic_cchar, st C.ic_storage, errOut *C.ic_error) C.ic_status {
	return withRepo(repo, errOut, func(r *engine.Repository, _ context.Context) error {
		prefix, err := inString(urlPrefix, "url_prefix")
		if err != nil {
			return err
		}
		s, err := lookupStorage(st)
		if err != nil {
			return err
		}
		return r.SetVirtualChunkStorage(prefix, s)
	})
}

// --- Branches and tags --------------------------------------------------

// Branches and tags share four shapes of call; each export names the
// engine method it delegates to.

func createRef(repo C.ic_repo, name, snapshotID *C.ic_cchar, errOut *C.ic_error,
	create func(*engine.Repository, context.Context, string, codec.SnapshotID) error) C.ic_status {
	return withRepo(repo, errOut, func(r *engine.Repository, ctx context.Context) error {
		n, err := inString(name, "name")
		if err != nil {
			return err
		}
		id, err := inSnapshotID(snapshotID, "snapshot_id")
		if err != nil {
			return err
		}
		return create(r, ctx, n, id)
	})
}

func listRefs(repo C.ic_repo, json **C.char, errOut *C.ic_error,
	list func(*engine.Repository, context.Context) ([]string, error)) C.ic_status {
	return withRepo(repo, errOut, func(r *engine.Repository, ctx context.Context) error {
		if err := needOut(unsafe.Pointer(json), "json"); err != nil {
			return err
		}
		names, err := list(r, ctx)
		if err != nil {
			return err
		}
		return setJSON(json, append([]string{}, names...))
	})
}

func lookupRef(repo C.ic_repo, name *C.ic_cchar, snapshotID **C.char, errOut *C.ic_error,
	lookup func(*engine.Repository, context.Context, string) (codec.SnapshotID, error)) C.ic_status {
	return withRepo(repo, errOut, func(r *engine.Repository, ctx context.Context) error {
		n, err := inString(name, "name")
		if err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(snapshotID), "snapshot_id"); err != nil {
			return err
		}
		id, err := lookup(r, ctx, n)
		if err != nil {
			return err
		}
		return setString(snapshotID, id.String())
	})
}

func deleteRef(repo C.ic_repo, name *C.ic_cchar, errOut *C.ic_error,
	del func(*engine.Repository, context.Context, string) error) C.ic_status {
	return withRepo(repo, errOut, func(r *engine.Repository, ctx context.Context) error {
		n, err := inString(name, "name")
		if err != nil {
			return err
		}
		return del(r, ctx, n)
	})
}

//export ic_repo_create_branch
func ic_repo_create_branch(repo C.ic_repo, name, snapshotID *C.ic_cchar, errOut *C.ic_error) C.ic_status {
	return createRef(repo, name, snapshotID, errOut, (*engine.Repository).CreateBranch)
}

//export ic_repo_list_branches
func ic_repo_list_branches(repo C.ic_repo, json **C.char, errOut *C.ic_error) C.ic_status {
	return listRefs(repo, json, errOut, (*engine.Repository).ListBranches)
}

//export ic_repo_lookup_branch
func ic_repo_lookup_branch(repo C.ic_repo, name *C.ic_cchar, snapshotID **C.char, errOut *C.ic_error) C.ic_status {
	return lookupRef(repo, name, snapshotID, errOut, (*engine.Repository).LookupBranch)
}

//export ic_repo_delete_branch
func ic_repo_delete_branch(repo C.ic_repo, name *C.ic_cchar, errOut *C.ic_error) C.ic_status {
	return deleteRef(repo, name, errOut, (*engine.Repository).DeleteBranch)
}

//export ic_repo_reset_branch
func ic_repo_reset_branch(repo C.ic_repo, name, snapshotID, expectedTip *C.ic_cchar, errOut *C.ic_error) C.ic_status {
	return withRepo(repo, errOut, func(r *engine.Repository, ctx context.Context) error {
		n, err := inString(name, "name")
		if err != nil {
			return err
		}
		id, err := inSnapshotID(snapshotID, "snapshot_id")
		if err != nil {
			return err
		}
		var expected codec.SnapshotID
		if expectedTip != nil {
			if expected, err = inSnapshotID(expectedTip, "expected_tip"); err != nil {
				return err
			}
		}
		return r.ResetBranch(ctx, n, id, expected)
	})
}

//export ic_repo_rewrite_manifests
func ic_repo_rewrite_manifests(repo C.ic_repo, branch, message, metadataJSON *C.ic_cchar, snapshotID **C.char, errOut *C.ic_error) C.ic_status {
	return withRepo(repo, errOut, func(r *engine.Repository, ctx context.Context) error {
		b, msg, meta, err := inBranchCommit(branch, message, metadataJSON)
		if err != nil {
			return err
		}
		id, err := r.RewriteManifests(ctx, b, msg, meta)
		if err != nil {
			return err
		}
		if snapshotID == nil {
			return nil
		}
		return setString(snapshotID, id.String())
	})
}

//export ic_repo_repack_chunks
func ic_repo_repack_chunks(repo C.ic_repo, branch, message, metadataJSON *C.ic_cchar, maxLiveFraction C.double, dryRun C.int32_t, json **C.char, errOut *C.ic_error) C.ic_status {
	return withRepo(repo, errOut, func(r *engine.Repository, ctx context.Context) error {
		b, msg, meta, err := inBranchCommit(branch, message, metadataJSON)
		if err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(json), "json"); err != nil {
			return err
		}
		f := float64(maxLiveFraction)
		if f != 0 && !(f > 0 && f <= 1) {
			return invalidArg("max_live_fraction is %v; it must be in (0, 1]", f)
		}
		sum, err := r.RepackChunks(ctx, b, msg, meta, engine.RepackOptions{MaxLiveFraction: f, DryRun: dryRun != 0})
		if err != nil {
			return err
		}
		return setJSON(json, repackSummary(sum, dryRun != 0))
	})
}

// inBranchCommit reads the branch, message and metadata of a commit a
// repository call makes itself.
func inBranchCommit(branch, message, metadataJSON *C.ic_cchar) (string, string, map[string]any, error) {
	b, err := inString(branch, "branch")
	if err != nil {
		return "", "", nil, err
	}
	msg, meta, err := inCommit(message, metadataJSON)
	return b, msg, meta, err
}

//export ic_repo_create_tag
func ic_repo_create_tag(repo C.ic_repo, name, snapshotID *C.ic_cchar, errOut *C.ic_error) C.ic_status {
	return createRef(repo, name, snapshotID, errOut, (*engine.Repository).CreateTag)
}

//export ic_repo_list_tags
func ic_repo_list_tags(repo C.ic_repo, json **C.char, errOut *C.ic_error) C.ic_status {
	return listRefs(repo, json, errOut, (*engine.Repository).ListTags)
}

//export ic_repo_lookup_tag
func ic_repo_lookup_tag(repo C.ic_repo, name *C.ic_cchar, snapshotID **C.char, errOut *C.ic_error) C.ic_status {
	return lookupRef(repo, name, snapshotID, errOut, (*engine.Repository).LookupTag)
}

//export ic_repo_delete_tag
func ic_repo_delete_tag(repo C.ic_repo, name *C.ic_cchar, errOut *C.ic_error) C.ic_status {
	return deleteRef(repo, name, errOut, (*engine.Repository).DeleteTag)
}

// --- Versions and history -----------------------------------------------

//export ic_repo_resolve
func ic_repo_resolve(repo C.ic_repo, version *C.ic_cversion, snapshotID **C.char, errOut *C.ic_error) C.ic_status {
	return withRepo(repo, errOut, func(r *engine.Repository, ctx context.Context) error {
		v, err := inVersion(version, "version")
		if err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(snapshotID), "snapshot_id"); err != nil {
			return err
		}
		id, err := r.Resolve(ctx, v)
		if err != nil {
			return err
		}
		return setString(snapshotID, id.String())
	})
}

// describeSnapshot runs a call that describes one snapshot (snapshot info,
// inspection) and hands out the JSON of its result.
func describeSnapshot(repo C.ic_repo, snapshotID *C.ic_cchar, json **C.char, errOut *C.ic_error,
	describe func(*engine.Repository, context.Context, codec.SnapshotID) (any, error)) C.ic_status {
	return withRepo(repo, errOut, func(r *engine.Repository, ctx context.Context) error {
		id, err := inSnapshotID(snapshotID, "snapshot_id")
		if err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(json), "json"); err != nil {
			return err
		}
		out, err := describe(r, ctx, id)
		if err != nil {
			return err
		}
		return setJSON(json, out)
	})
}

//export ic_repo_snapshot_info
func ic_repo_snapshot_info(repo C.ic_repo, snapshotID *C.ic_cchar, json **C.char, errOut *C.ic_error) C.ic_status {
	return describeSnapshot(repo, snapshotID, json, errOut, func(r *engine.Repository, ctx context.Context, id codec.SnapshotID) (any, error) {
		info, err := r.SnapshotInfo(ctx, id)
		return snapshotInfo(info), err
	})
}

//export ic_repo_inspect_snapshot
func ic_repo_inspect_snapshot(repo C.ic_repo, snapshotID *C.ic_cchar, json **C.char, errOut *C.ic_error) C.ic_status {
	return describeSnapshot(repo, snapshotID, json, errOut, func(r *engine.Repository, ctx context.Context, id codec.SnapshotID) (any, error) {
		return r.InspectSnapshot(ctx, id)
	})
}

//export ic_repo_ancestry
func ic_repo_ancestry(repo C.ic_repo, version *C.ic_cversion, out *C.ic_iter, errOut *C.ic_error) C.ic_status {
	return withRepo(repo, errOut, func(r *engine.Repository, ctx context.Context) error {
		v, err := inVersion(version, "version")
		if err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(out), "out"); err != nil {
			return err
		}
		// Resolve now, so that a bad version fails here and not at the
		// first ic_iter_next.
		id, err := r.Resolve(ctx, v)
		if err != nil {
			return err
		}
		return newIter(ctx, r.Ancestry(ctx, engine.Version{Snapshot: id}), func(info engine.SnapshotInfo) any { return snapshotInfo(info) }, out)
	})
}

//export ic_repo_ancestry_json
func ic_repo_ancestry_json(repo C.ic_repo, version *C.ic_cversion, limit C.size_t, json **C.char, errOut *C.ic_error) C.ic_status {
	return withRepo(repo, errOut, func(r *engine.Repository, ctx context.Context) error {
		v, err := inVersion(version, "version")
		if err != nil {
			return err
		}
		n, err := checkSize(limit, "limit")
		if err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(json), "json"); err != nil {
			return err
		}
		out := []snapshotInfoJSON{}
		for info, err := range r.Ancestry(ctx, v) {
			if err != nil {
				return err
			}
			out = append(out, snapshotInfo(info))
			if n > 0 && len(out) == n {
				break
			}
		}
		return setJSON(json, out)
	})
}

//export ic_repo_diff
func ic_repo_diff(repo C.ic_repo, from, to *C.ic_cversion, json **C.char, errOut *C.ic_error) C.ic_status {
	return withRepo(repo, errOut, func(r *engine.Repository, ctx context.Context) error {
		f, err := inVersion(from, "from")
		if err != nil {
			return err
		}
		t, err := inVersion(to, "to")
		if err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(json), "json"); err != nil {
			return err
		}
		d, err := r.Diff(ctx, f, t)
		if err != nil {
			return err
		}
		return setJSON(json, diff(d))
	})
}

// --- Garbage collection ---------------------------------------------------

//export ic_repo_garbage_collect
func ic_repo_garbage_collect(repo C.ic_repo, deleteOlderThan C.int64_t, dryRun C.int32_t, json **C.char, errOut *C.ic_error) C.ic_status {
	return withRepo(repo, errOut, func(r *engine.Repository, ctx context.Context) error {
		if deleteOlderThan <= 0 {
			return invalidArg("delete_older_than_unix_nanos is %d; it must be a time after 1970 (objects last written before it may be deleted)", int64(deleteOlderThan))
		}
		if err := needOut(unsafe.Pointer(json), "json"); err != nil {
			return err
		}
		sum, err := r.GarbageCollect(ctx, engine.GCOptions{DeleteOlderThan: time.Unix(0, int64(deleteOlderThan)), DryRun: dryRun != 0})
		if err != nil {
			return err
		}
		return setJSON(json, gcSummary(sum, dryRun != 0))
	})
}

//export ic_repo_expire_snapshots
func ic_repo_expire_snapshots(repo C.ic_repo, olderThan C.int64_t, deleteBranches, deleteTags C.int32_t, json **C.char, errOut *C.ic_error) C.ic_status {
	return withRepo(repo, errOut, func(r *engine.Repository, ctx context.Context) error {
		if olderThan <= 0 {
			return invalidArg("older_than_unix_nanos is %d; it must be a time after 1970 (snapshots written before it expire)", int64(olderThan))
		}
		if err := needOut(unsafe.Pointer(json), "json"); err != nil {
			return err
		}
		res, err := r.ExpireSnapshots(ctx, engine.ExpireOptions{
			OlderThan:             time.Unix(0, int64(olderThan)),
			DeleteExpiredBranches: deleteBranches != 0,
			DeleteExpiredTags:     deleteTags != 0,
		})
		if err != nil {
			return err
		}
		return setJSON(json, expireResult(res))
	})
}

//export ic_repo_chunk_storage_stats
func ic_repo_chunk_storage_stats(repo C.ic_repo, json **C.char, errOut *C.ic_error) C.ic_status {
	return withRepo(repo, errOut, func(r *engine.Repository, ctx context.Context) error {
		if err := needOut(unsafe.Pointer(json), "json"); err != nil {
			return err
		}
		stats, err := r.ChunkStorageStats(ctx)
		if err != nil {
			return err
		}
		return setJSON(json, chunkStorageStats(stats))
	})
}

// --- Sessions -----------------------------------------------------------

func newSessionHandle(s *engine.Session, out *C.ic_session) error {
	h, err := handles.add(kindSession, s)
	if err != nil {
		return err
	}
	*out = C.ic_session(h)
	return nil
}

//export ic_repo_readonly_session
func ic_repo_readonly_session(repo C.ic_repo, version *C.ic_cversion, out *C.ic_session, errOut *C.ic_error) C.ic_status {
	return withRepo(repo, errOut, func(r *engine.Repository, ctx context.Context) error {
		v, err := inVersion(version, "version")
		if err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(out), "out"); err != nil {
			return err
		}
		s, err := r.ReadonlySession(ctx, v)
		if err != nil {
			return err
		}
		return newSessionHandle(s, out)
	})
}

//export ic_repo_writable_session
func ic_repo_writable_session(repo C.ic_repo, branch *C.ic_cchar, out *C.ic_session, errOut *C.ic_error) C.ic_status {
	return withRepo(repo, errOut, func(r *engine.Repository, ctx context.Context) error {
		b, err := inString(branch, "branch")
		if err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(out), "out"); err != nil {
			return err
		}
		s, err := r.WritableSession(ctx, b)
		if err != nil {
			return err
		}
		return newSessionHandle(s, out)
	})
}

//export ic_repo_session_from_bytes
func ic_repo_session_from_bytes(repo C.ic_repo, data *C.ic_cu8, n C.size_t, out *C.ic_session, errOut *C.ic_error) C.ic_status {
	return withRepo(repo, errOut, func(r *engine.Repository, _ context.Context) error {
		b, err := inBytes(data, n, "data")
		if err != nil {
			return err
		}
		if err := needOut(unsafe.Pointer(out), "out"); err != nil {
			return err
		}
		s, err := r.SessionFromBytes(b)
		if err != nil {
			return err
		}
		return newSessionHandle(s, out)
	})
}
