// Command icechunk-demo is the project's main job in miniature, run by
// `make demo`: it creates a repository on local disk, writes a small Zarr
// hierarchy and commits it, reads it back at two versions, lets two
// writers collide and resolves the collision by rebase, and prints the
// history and a session's status.
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/icechunk-go/icechunk-go/engine"
	"github.com/icechunk-go/icechunk-go/storage"
	"github.com/icechunk-go/icechunk-go/storage/local"
)

func main() {
	dir := flag.String("dir", "", "where to create the repository (default: a new temporary folder)")
	flag.Parse()
	if err := run(*dir); err != nil {
		fmt.Fprintf(os.Stderr, "demo failed: %+v\n", err)
		os.Exit(1)
	}
}

const (
	groupMeta = `{"zarr_format":3,"node_type":"group","attributes":{"title":"demo"}}`
	tempMeta  = `{"zarr_format":3,"node_type":"array","shape":[4,8],"data_type":"float64",` +
		`"chunk_grid":{"name":"regular","configuration":{"chunk_shape":[2,4]}},` +
		`"chunk_key_encoding":{"name":"default","configuration":{"separator":"/"}},` +
		`"fill_value":0.0,"codecs":[{"name":"bytes","configuration":{"endian":"little"}}],` +
		`"dimension_names":["y","x"],"attributes":{"units":"K"}}`
)

// chunk encodes 8 float64 values (one 2x4 chunk) all equal to v.
func chunk(v float64) []byte {
	b := make([]byte, 8*8)
	for i := range 8 {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
	}
	return b
}

func value(b []byte) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(b)) }

func run(dir string) error {
	ctx := context.Background()
	if dir == "" {
		tmp, err := os.MkdirTemp("", "icechunk-demo-")
		if err != nil {
			return err
		}
		dir = filepath.Join(tmp, "repo")
	}
	store, err := local.New(dir)
	if err != nil {
		return err
	}
	repo, err := engine.Create(ctx, store, nil, nil)
	if err != nil {
		return err
	}
	fmt.Printf("Created a repository at %s\n\n", dir)

	// 1. Write a hierarchy through Zarr keys and commit.
	s, err := repo.WritableSession(ctx, engine.MainBranch)
	if err != nil {
		return err
	}
	for key, val := range map[string][]byte{"zarr.json": []byte(groupMeta), "temperature/zarr.json": []byte(tempMeta)} {
		if err := s.StoreSet(ctx, key, val); err != nil {
			return err
		}
	}
	for y := range 2 {
		for x := range 2 {
			if err := s.StoreSet(ctx, fmt.Sprintf("temperature/c/%d/%d", y, x), chunk(280+float64(y*2+x))); err != nil {
				return err
			}
		}
	}
	status, err := s.Status(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("Status before the first commit:\n%s\n", indent(status.String()))
	first, err := s.Commit(ctx, "initial temperatures", map[string]any{"author": "demo"})
	if err != nil {
		return err
	}
	fmt.Printf("Committed %s\n\n", first)

	// 2. A second version changes one chunk.
	s, err = repo.WritableSession(ctx, engine.MainBranch)
	if err != nil {
		return err
	}
	if err := s.StoreSet(ctx, "temperature/c/0/0", chunk(300)); err != nil {
		return err
	}
	second, err := s.Commit(ctx, "heat wave in the first chunk", nil)
	if err != nil {
		return err
	}
	if err := repo.CreateTag(ctx, "v1", first); err != nil {
		return err
	}

	// 3. Time travel: read the chunk at both versions.
	for _, v := range []engine.Version{{Tag: "v1"}, {Branch: engine.MainBranch}} {
		r, err := repo.ReadonlySession(ctx, v)
		if err != nil {
			return err
		}
		data, _, err := r.StoreGet(ctx, "temperature/c/0/0", storage.From(0))
		if err != nil {
			return err
		}
		fmt.Printf("temperature[0:2, 0:4] at %-12s = %.1f K\n", v.String()+":", value(data))
	}
	fmt.Println()

	// 4. Two writers collide; disjoint chunks rebase cleanly.
	alice, err := repo.WritableSession(ctx, engine.MainBranch)
	if err != nil {
		return err
	}
	bob, err := repo.WritableSession(ctx, engine.MainBranch)
	if err != nil {
		return err
	}
	if err := alice.StoreSet(ctx, "temperature/c/1/0", chunk(290)); err != nil {
		return err
	}
	if err := bob.StoreSet(ctx, "temperature/c/1/1", chunk(291)); err != nil {
		return err
	}
	if _, err := alice.Commit(ctx, "alice updates chunk (1,0)", nil); err != nil {
		return err
	}
	_, err = bob.Commit(ctx, "bob updates chunk (1,1)", nil)
	fmt.Printf("Bob's commit: %v\n", err)
	if err := bob.Rebase(ctx, engine.BasicConflictSolver{}); err != nil {
		return err
	}
	third, err := bob.Commit(ctx, "bob updates chunk (1,1)", nil)
	if err != nil {
		return err
	}
	fmt.Printf("After rebase, Bob committed %s\n\n", third)

	// 5. Same chunk on both sides: the rebase explains the conflict.
	alice, _ = repo.WritableSession(ctx, engine.MainBranch)
	bob, _ = repo.WritableSession(ctx, engine.MainBranch)
	_ = alice.StoreSet(ctx, "temperature/c/0/1", chunk(1))
	_ = bob.StoreSet(ctx, "temperature/c/0/1", chunk(2))
	if _, err := alice.Commit(ctx, "alice rewrites chunk (0,1)", nil); err != nil {
		return err
	}
	_, _ = bob.Commit(ctx, "bob rewrites chunk (0,1)", nil)
	err = bob.Rebase(ctx, engine.BasicConflictSolver{OnChunkConflict: engine.Fail})
	fmt.Printf("Bob's rebase with the Fail policy:\n%s\n\n", indent(fmt.Sprint(err)))

	// 6. History, newest first.
	fmt.Println("History of main:")
	for info, err := range repo.Ancestry(ctx, engine.Version{Branch: engine.MainBranch}) {
		if err != nil {
			return err
		}
		fmt.Printf("  %s  %s  %s\n", info.ID, info.WrittenAt.Format("15:04:05.000"), info.Message)
	}
	d, err := repo.Diff(ctx, engine.Version{Snapshot: first}, engine.Version{Snapshot: second})
	if err != nil {
		return err
	}
	fmt.Printf("\nDiff from the first to the second commit:\n%s", indent(d.String()))
	return nil
}

func indent(s string) string {
	out := ""
	for _, line := range splitLines(s) {
		if line != "" {
			line = "  " + line
		}
		out += line + "\n"
	}
	return out
}

func splitLines(s string) []string {
	var lines []string
	start := 0
	for i := range len(s) {
		if s[i] == '\n' {
			lines = append(lines, s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		lines = append(lines, s[start:])
	}
	return lines
}
