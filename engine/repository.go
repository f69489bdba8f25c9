package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"iter"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/codec"
	"github.com/icechunk-go/icechunk-go/storage"
)

// Repository is a versioned Zarr hierarchy in one Storage. It is safe for
// concurrent use.
type Repository struct {
	store      storage.Storage
	retry      *storage.Retrying                // under store; its policy follows the config
	fixedRetry bool                             // Options.Retry was given: the config's retries do not apply
	config     atomic.Pointer[codec.RepoConfig] // replaced whole by SaveConfig
	assets     *assets
	refs       *refs
	virtual    *virtualResolver

	mu          sync.Mutex
	defaultMeta map[string]any

	// id names the repository, once read (see identity).
	id atomic.Pointer[[16]byte]

	// noLogPlaces, set by tests only, writes snapshots without their
	// commit's place in the branch log, as builds before
	// codec.Snapshot.LogSlot did: the walks through their history must
	// still find the logs.
	noLogPlaces bool
}

// Options tune how a repository handle talks to its storage.
type Options struct {
	// Retry bounds the retries of transient storage failures, in place of
	// the repository config's retry settings. The zero value means those
	// settings (by default storage.DefaultRetryPolicy).
	Retry storage.RetryPolicy
	// OpenSettings, when set, are the storage settings in force while
	// Open reads the repository, before its stored config is known: the
	// caller's own settings, so that a retry bound it chose applies to
	// the first reads too (a server that does not answer fails the open
	// after its tries, not the default's). The stored config's settings
	// take over once it is read.
	OpenSettings *codec.StorageSettings
}

func (o *Options) ownRetry() bool { return o != nil && o.Retry.MaxAttempts > 0 }

// wrapStore wraps store in the retrying layer of a handle: its policy is
// opts' own, else that of settings (nil: the default).
func wrapStore(store storage.Storage, opts *Options, settings *codec.StorageSettings) *storage.Retrying {
	policy := retryPolicy(settings)
	if opts.ownRetry() {
		policy = opts.Retry
	}
	return storage.NewRetrying(store, policy)
}

func newRepository(retry *storage.Retrying, cfg codec.RepoConfig, opts *Options) *Repository {
	r := &Repository{retry: retry, fixedRetry: opts.ownRetry()}
	r.virtual = newVirtualResolver(&cfg, func() *codec.StorageSettings { return r.cfg().Storage })
	r.store = &classedStore{Retrying: retry, settings: func() *codec.StorageSettings { return r.cfg().Storage }}
	r.assets, r.refs = newAssets(r.store, &cfg), newRefs(r.store)
	r.assets.cfg = r.cfg
	r.refs.adopt = r.assets.adoptInline
	r.useConfig(&cfg)
	return r
}

// useConfig puts cfg in force on this handle.
func (r *Repository) useConfig(cfg *codec.RepoConfig) {
	r.config.Store(cfg)
	r.virtual.setContainers(cfg.VirtualChunkContainers)
	if !r.fixedRetry {
		r.retry.SetPolicy(retryPolicy(cfg.Storage))
	}
	r.retry.SetMaxConcurrent(int(cfg.MaxConcurrentRequests))
	r.virtual.follow(r.retry.Policy(), int(cfg.MaxConcurrentRequests))
	r.assets.sizeCaches(cfg)
}

// cfg returns the config in force; callers must not modify it.
func (r *Repository) cfg() *codec.RepoConfig { return r.config.Load() }

// Create makes a new repository in store with an initial empty commit on
// the main branch. cfg nil means codec.DefaultRepoConfig(). It fails with
// ErrRepositoryExists if the location already holds a repository, even
// when two processes create at once.
func Create(ctx context.Context, store storage.Storage, cfg *codec.RepoConfig, opts *Options) (*Repository, error) {
	config := codec.DefaultRepoConfig()
	if cfg != nil {
		config = *cfg
	}
	if err := config.Validate(); err != nil {
		return nil, errors.Mark(errors.Wrap(err, "invalid repository config"), ErrInvalidArgument)
	}
	retry := wrapStore(store, opts, config.Storage)
	if ok, err := exists(ctx, retry); err != nil {
		return nil, err
	} else if ok {
		return nil, errors.Mark(errors.Newf("%s already holds a repository", store), ErrRepositoryExists)
	}
	if key, found, err := foreignKey(ctx, retry); err != nil {
		return nil, errors.Wrap(err, "checking that the location is empty")
	} else if found {
		return nil, invalidArgument("%s is not empty (it holds %q): a repository is created only in an empty location, as upstream Icechunk's is", store, key)
	}
	r := newRepository(retry, config, opts)
	initial := &codec.Snapshot{ID: codec.InitialSnapshotID, FlushedAt: time.Now().UnixNano(), Message: "Repository initialized"}
	// Every repository's first snapshot has the same id, so a create that
	// races another, or retries one that was interrupted, finds it written:
	// either copy serves, and the ref below decides who created.
	if _, err := r.assets.writeSnapshot(ctx, initial); err != nil && !errors.Is(err, storage.ErrPreconditionFailed) {
		return nil, err
	}
	if err := r.refs.moveBranch(ctx, MainBranch, codec.SnapshotID{}, initial.ID); err != nil {
		if errors.Is(err, ErrConflict) {
			return nil, errors.Mark(errors.Newf("%s already holds a repository (created concurrently)", store), ErrRepositoryExists)
		}
		return nil, err
	}
	if err := r.createConfig(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// createConfig writes a new repository's config create-only, which is
// durable by itself: no Sync, which on local disk flushes every dirty page
// of the filesystem, other programs' included. A config left by an
// interrupted create is replaced as SaveConfig would.
func (r *Repository) createConfig(ctx context.Context) error {
	data, err := codec.EncodeRepoConfig(r.cfg())
	if err != nil {
		return err
	}
	err = r.store.PutIfAbsent(ctx, codec.ConfigKey, data)
	if errors.Is(err, storage.ErrPreconditionFailed) {
		return r.saveConfig(ctx)
	}
	return errors.Wrap(err, "writing repository config")
}

// Open opens the repository in store. ErrRepositoryNotFound if there is
// none. The stored config is used.
func Open(ctx context.Context, store storage.Storage, opts *Options) (*Repository, error) {
	var settings *codec.StorageSettings
	if opts != nil {
		settings = opts.OpenSettings
	}
	retry := wrapStore(store, opts, settings)
	ok, err := exists(ctx, retry)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.Mark(errors.Newf("%s holds no repository", store), ErrRepositoryNotFound)
	}
	config := codec.DefaultRepoConfig()
	data, err := retry.Get(ctx, codec.ConfigKey)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		// A creator that crashed before writing its config: defaults.
	case err != nil:
		return nil, errors.Wrap(err, "reading repository config")
	default:
		c, err := codec.DecodeRepoConfig(codec.ConfigKey, data)
		if err != nil {
			return nil, err
		}
		config = *c
	}
	return newRepository(retry, config, opts), nil
}

// OpenOrCreate opens the repository in store, creating it if there is none.
//
// The storage settings of cfg are in force while the repository is looked
// for, unless opts gives its own.
func OpenOrCreate(ctx context.Context, store storage.Storage, cfg *codec.RepoConfig, opts *Options) (*Repository, error) {
	if cfg != nil && (opts == nil || opts.OpenSettings == nil) {
		o := Options{OpenSettings: cfg.Storage}
		if opts != nil {
			o.Retry = opts.Retry
		}
		opts = &o
	}
	r, err := Open(ctx, store, opts)
	if errors.Is(err, ErrRepositoryNotFound) {
		r, err = Create(ctx, store, cfg, opts)
		if errors.Is(err, ErrRepositoryExists) {
			return Open(ctx, store, opts)
		}
	}
	return r, err
}

// Exists reports whether store holds a repository.
func Exists(ctx context.Context, store storage.Storage) (bool, error) {
	return exists(ctx, wrapStore(store, nil, nil))
}

// exists reports whether store holds a repository: whether main exists.
// A main whose head entry is corrupt still makes a repository: opening it
// succeeds, so that its other branches and tags stay readable, and the
// corruption is reported when main is used.
//
// A location holding an upstream Icechunk repository, whose files this
// library does not read, is ErrUnsupportedVersion rather than corrupt.
func exists(ctx context.Context, store storage.Storage) (bool, error) {
	_, _, err := newRefs(store).branchTip(ctx, MainBranch)
	switch {
	case errors.Is(err, ErrBranchNotFound):
		return false, nil
	case errors.Is(err, codec.ErrCorrupt):
		if _, serr := store.Stat(ctx, upstreamMainRef); serr == nil {
			return false, errors.Mark(errors.Newf("%s holds an upstream Icechunk repository (%s), whose format this library does not read", store, upstreamMainRef), codec.ErrUnsupportedVersion)
		}
		return true, nil
	}
	return err == nil, err
}

// repositoryNamespaces are the key prefixes (and the config key) a
// repository writes, in key order.
var repositoryNamespaces = []string{codec.ChunksPrefix, codec.ConfigKey, codec.ManifestsPrefix, codec.RefsPrefix, codec.SnapshotsPrefix, codec.TransactionsPrefix}

// foreignKey returns a key of store that no repository writes, if there
// is one: a location holding other files is no place for a repository,
// whose garbage collection owns what lies under it. Keys a create
// interrupted before its end left are allowed, so that it can be run
// again. Each namespace found is skipped with one listing past its end,
// so a location full of a repository's objects costs a few listings.
func foreignKey(ctx context.Context, store storage.Storage) (string, bool, error) {
	after := ""
	for range len(repositoryNamespaces) + 1 {
		var first string
		var found bool
		for info, err := range store.List(ctx, "", storage.ListOptions{StartAfter: after}) {
			if err != nil {
				return "", false, err
			}
			first, found = info.Key, true
			break
		}
		if !found {
			return "", false, nil
		}
		ns := ""
		for _, n := range repositoryNamespaces {
			if first == n || strings.HasSuffix(n, "/") && strings.HasPrefix(first, n) {
				ns = n
			}
		}
		if ns == "" {
			return first, true, nil
		}
		after = ns
		if strings.HasSuffix(ns, "/") {
			// Past every key of the namespace: keys are ASCII-led, and
			// this is the largest character UTF-8 can spell.
			after = ns + "\U0010FFFF"
		}
	}
	return "", false, nil
}

// upstreamMainRef is the file of an upstream Icechunk repository's main
// branch.
const upstreamMainRef = "refs/branch.main/ref.json"

// Storage returns the storage the repository lives in.
func (r *Repository) Storage() storage.Storage { return r.store }

// Config returns the repository's config.
func (r *Repository) Config() codec.RepoConfig { return *r.cfg() }

func (r *Repository) saveConfig(ctx context.Context) error {
	data, err := codec.EncodeRepoConfig(r.cfg())
	if err != nil {
		return err
	}
	if err := r.store.Put(ctx, codec.ConfigKey, data); err != nil {
		return errors.Wrap(err, "writing repository config")
	}
	return errors.Wrap(r.store.Sync(ctx), "writing repository config")
}

// SaveConfig stores a new config for the repository and puts it in force
// on this handle (inline threshold, transaction logs, manifest blocks,
// virtual chunk containers); handles opened later read it. The caches of
// this handle keep the sizes they were opened with.
func (r *Repository) SaveConfig(ctx context.Context, cfg codec.RepoConfig) error {
	if err := cfg.Validate(); err != nil {
		return errors.Mark(errors.Wrap(err, "invalid repository config"), ErrInvalidArgument)
	}
	data, err := codec.EncodeRepoConfig(&cfg)
	if err != nil {
		return err
	}
	if err := r.store.Put(ctx, codec.ConfigKey, data); err != nil {
		return errors.Wrap(err, "writing repository config")
	}
	if err := r.store.Sync(ctx); err != nil {
		return errors.Wrap(err, "writing repository config")
	}
	r.useConfig(&cfg)
	return nil
}

// UseConfig makes cfg this handle's configuration without storing it
// (SaveConfig stores one): sessions opened afterwards use it, other
// handles and later opens do not see it. The caches keep the sizes the
// handle was opened with.
func (r *Repository) UseConfig(cfg codec.RepoConfig) error {
	if err := cfg.Validate(); err != nil {
		return errors.Mark(errors.Wrap(err, "invalid repository config"), ErrInvalidArgument)
	}
	r.useConfig(&cfg)
	return nil
}

// SetDefaultCommitMetadata sets metadata merged into every commit of the
// sessions created afterwards (per-commit keys win).
func (r *Repository) SetDefaultCommitMetadata(meta map[string]any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.defaultMeta = maps.Clone(meta)
}

// DefaultCommitMetadata returns a copy of the default commit metadata.
func (r *Repository) DefaultCommitMetadata() map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.defaultMeta)
}

// CreateBranch makes a branch at an existing snapshot.
func (r *Repository) CreateBranch(ctx context.Context, name string, snap codec.SnapshotID) error {
	if err := validateRefName("branch", name); err != nil {
		return err
	}
	if _, err := r.assets.fetchSnapshot(ctx, snap); err != nil {
		return err
	}
	err := r.refs.createBranch(ctx, name, snap)
	logRefChange(ctx, "created a branch", "branch", name, snap, err)
	return err
}

// ListBranches returns the branch names, sorted.
func (r *Repository) ListBranches(ctx context.Context) ([]string, error) {
	return r.refs.listBranches(ctx)
}

// LookupBranch returns the branch's tip.
func (r *Repository) LookupBranch(ctx context.Context, name string) (codec.SnapshotID, error) {
	tip, _, err := r.refs.branchTip(ctx, name)
	return tip, err
}

// DeleteBranch deletes a branch (not main), even one whose head entry is
// damaged (codec.ErrCorrupt on every read of it).
func (r *Repository) DeleteBranch(ctx context.Context, name string) error {
	err := r.refs.deleteBranch(ctx, name)
	logRefChange(ctx, "deleted a branch", "branch", name, codec.SnapshotID{}, err)
	return err
}

// ResetBranch points the branch at snap. If expected is not zero the reset
// happens only if the tip is still expected (else a *ConflictError).
// Without an expected tip it also repairs a branch whose head entry is
// damaged (codec.ErrCorrupt on every read of it): the new head follows the
// damaged entry, which stays in the log.
func (r *Repository) ResetBranch(ctx context.Context, name string, snap, expected codec.SnapshotID) error {
	if _, err := r.assets.fetchSnapshot(ctx, snap); err != nil {
		return err
	}
	tip, seq, err := r.refs.branchTipToWrite(ctx, name)
	if errors.Is(err, codec.ErrCorrupt) && expected.IsZero() {
		err = r.refs.replaceDamagedHead(ctx, name, codec.Ref{Snapshot: snap}, err)
		logRefChange(ctx, "reset a branch", "branch", name, snap, err)
		return err
	}
	if err != nil {
		return err
	}
	if !expected.IsZero() && tip != expected {
		return &ConflictError{Branch: name, ExpectedParent: expected, ActualParent: tip}
	}
	err = r.refs.appendRef(ctx, name, seq, codec.Ref{Snapshot: snap})
	var ce *ConflictError
	if errors.As(err, &ce) {
		ce.ExpectedParent = tip // the branch moved after the read above
	}
	logRefChange(ctx, "reset a branch", "branch", name, snap, err)
	return err
}

// CreateTag makes an immutable tag at an existing snapshot.
func (r *Repository) CreateTag(ctx context.Context, name string, snap codec.SnapshotID) error {
	if err := validateRefName("tag", name); err != nil {
		return err
	}
	if _, err := r.assets.fetchSnapshot(ctx, snap); err != nil {
		return err
	}
	err := r.refs.createTag(ctx, name, snap)
	logRefChange(ctx, "created a tag", "tag", name, snap, err)
	return err
}

// ListTags returns the tag names, sorted.
func (r *Repository) ListTags(ctx context.Context) ([]string, error) { return r.refs.listTags(ctx) }

// LookupTag returns the snapshot a tag points at.
func (r *Repository) LookupTag(ctx context.Context, name string) (codec.SnapshotID, error) {
	return r.refs.tag(ctx, name)
}

// DeleteTag deletes a tag; its name can never be used again.
func (r *Repository) DeleteTag(ctx context.Context, name string) error {
	err := r.refs.deleteTag(ctx, name)
	logRefChange(ctx, "deleted a tag", "tag", name, codec.SnapshotID{}, err)
	return err
}

// Version selects a snapshot: exactly one of Branch, Tag or Snapshot; AsOf
// (with Branch) picks the newest commit of the branch at or before a time.
type Version struct {
	Branch   string
	Tag      string
	Snapshot codec.SnapshotID
	AsOf     time.Time
}

func (v Version) String() string {
	switch {
	case v.Branch != "" && !v.AsOf.IsZero():
		return "branch " + v.Branch + " as of " + v.AsOf.Format(time.RFC3339Nano)
	case v.Branch != "":
		return "branch " + v.Branch
	case v.Tag != "":
		return "tag " + v.Tag
	}
	return "snapshot " + v.Snapshot.String()
}

// Resolve turns a Version into a snapshot id.
func (r *Repository) Resolve(ctx context.Context, v Version) (codec.SnapshotID, error) {
	set := 0
	for _, b := range []bool{v.Branch != "", v.Tag != "", !v.Snapshot.IsZero()} {
		if b {
			set++
		}
	}
	if set != 1 {
		return codec.SnapshotID{}, invalidArgument("a version needs exactly one of branch, tag or snapshot id")
	}
	if !v.AsOf.IsZero() && v.Branch == "" {
		return codec.SnapshotID{}, invalidArgument("as-of needs a branch")
	}
	switch {
	case v.Tag != "":
		return r.LookupTag(ctx, v.Tag)
	case !v.Snapshot.IsZero():
		if _, err := r.assets.fetchSnapshot(ctx, v.Snapshot); err != nil {
			return codec.SnapshotID{}, err
		}
		return v.Snapshot, nil
	}
	tip, err := r.LookupBranch(ctx, v.Branch)
	if err != nil || v.AsOf.IsZero() {
		return tip, err
	}
	for info, err := range r.ancestry(ctx, tip) {
		if err != nil {
			return codec.SnapshotID{}, err
		}
		if !info.WrittenAt.After(v.AsOf) {
			return info.ID, nil
		}
	}
	return codec.SnapshotID{}, errors.Mark(errors.Newf("branch %q has no commit at or before %s", v.Branch, v.AsOf.Format(time.RFC3339)), ErrSnapshotNotFound)
}

// SnapshotInfo describes one commit.
type SnapshotInfo struct {
	ID        codec.SnapshotID
	ParentID  codec.SnapshotID // zero for the initial commit
	WrittenAt time.Time
	Message   string
	Metadata  map[string]any
	// HistoryCut is set on a snapshot whose older history was expired
	// (Repository.ExpireSnapshots): its parent is now the initial
	// snapshot, not the one its changes were made on.
	HistoryCut bool
	// Manifests are the manifest files the snapshot's arrays refer to, as
	// the snapshot lists them: id, encoded size and number of chunk
	// references (inline and virtual ones included). Empty for a snapshot
	// with no chunks.
	Manifests []codec.ManifestFileInfo
}

func snapshotInfo(s *codec.Snapshot) (SnapshotInfo, error) {
	info := SnapshotInfo{ID: s.ID, ParentID: s.ParentID, WrittenAt: s.FlushedTime(), Message: s.Message, Metadata: map[string]any{}, HistoryCut: s.HistoryCut,
		Manifests: slices.Clone(s.ManifestFiles)}
	if len(s.Metadata) > 0 {
		// Numbers stay json.Number, so large integers keep every digit.
		dec := json.NewDecoder(bytes.NewReader(s.Metadata))
		dec.UseNumber()
		if err := dec.Decode(&info.Metadata); err != nil {
			return info, errors.Mark(errors.Wrapf(err, "snapshot %s has invalid metadata", s.ID), codec.ErrCorrupt)
		}
	}
	return info, nil
}

// SnapshotInfo returns the description of one snapshot.
func (r *Repository) SnapshotInfo(ctx context.Context, id codec.SnapshotID) (SnapshotInfo, error) {
	s, err := r.assets.fetchSnapshot(ctx, id)
	if err != nil {
		return SnapshotInfo{}, err
	}
	return snapshotInfo(s)
}

// Ancestry yields the version's snapshot and its ancestors, newest first,
// one snapshot per step (a long history is never loaded at once). Where a
// branch log holds the history, the snapshots ahead are fetched a few at
// a time; a walk from a version no log the handle has read holds (a tag,
// or a snapshot id) reads the branch logs to find it (see ancestry).
func (r *Repository) Ancestry(ctx context.Context, v Version) iter.Seq2[SnapshotInfo, error] {
	return func(yield func(SnapshotInfo, error) bool) {
		id, err := r.Resolve(ctx, v)
		if err != nil {
			yield(SnapshotInfo{}, err)
			return
		}
		r.ancestry(ctx, id)(yield)
	}
}

// ReadonlySession opens a read-only session at a version.
func (r *Repository) ReadonlySession(ctx context.Context, v Version) (*Session, error) {
	id, err := r.Resolve(ctx, v)
	if err != nil {
		return nil, err
	}
	snap, err := r.assets.fetchBase(ctx, id)
	if err != nil {
		return nil, err
	}
	s := newSession(r, "", snap)
	s.preloaded = r.preload(snap)
	return s, nil
}

// WritableSession opens a session that commits to branch, based on its tip.
func (r *Repository) WritableSession(ctx context.Context, branch string) (*Session, error) {
	tip, err := r.LookupBranch(ctx, branch)
	if err != nil {
		return nil, err
	}
	snap, err := r.assets.fetchBase(ctx, tip)
	if err != nil {
		return nil, err
	}
	s := newSession(r, branch, snap)
	s.preloaded = r.preload(snap)
	return s, nil
}
