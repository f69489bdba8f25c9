package codec

import (
	"math"
	"regexp"
	"strings"
	"sync"

	"github.com/cockroachdb/errors"
)

//go:generate msgp -io=false -tests=false

// ManifestConfig says how an array's chunk references are split into
// manifests and which manifests a new session loads before they are asked
// for (upstream Icechunk's ManifestConfig).
type ManifestConfig struct {
	// Preload (nil: none) names the manifests a session starts loading
	// when it opens.
	Preload *ManifestPreload `msg:"preload,omitempty" json:"preload,omitempty"`
	// Splitting (empty: the engine's own choice, ManifestBlockChunks
	// references per manifest) gives the manifest block shape of arrays:
	// the first rule whose condition matches an array decides its shape.
	Splitting []ManifestSplit `msg:"splitting,omitempty" json:"splitting,omitempty"`
}

// DefaultPreloadMaxTotalRefs bounds the chunk references a session preloads
// when ManifestPreload.MaxTotalRefs is not set.
const DefaultPreloadMaxTotalRefs = 10_000

// ManifestPreload selects the manifests a session loads when it opens.
type ManifestPreload struct {
	// MaxTotalRefs (nil: DefaultPreloadMaxTotalRefs) bounds the chunk
	// references of all the manifests preloaded together.
	MaxTotalRefs *uint64 `msg:"max_total_refs,omitempty" json:"max_total_refs,omitempty"`
	// If (nil: nothing) is the condition a manifest must meet: any
	// condition but any_array.
	If *Condition `msg:"if,omitempty" json:"if,omitempty"`
}

// ManifestSplit is one splitting rule: arrays matching If get a manifest
// block shape from Dims.
type ManifestSplit struct {
	// If is the condition an array must meet: path_matches, name_matches,
	// any_array, and, or.
	If Condition `msg:"if" json:"if"`
	// Dims gives the chunks per manifest along each dimension: the first
	// entry matching a dimension decides; a dimension none matches is not
	// split.
	Dims []DimSplit `msg:"dims" json:"dims"`
}

// Kinds of DimSplit.
const (
	DimAxis          = "axis"           // the dimension at Axis
	DimName          = "dimension_name" // a dimension whose name matches Regex
	DimAny           = "any"            // any dimension
	conditionAnd     = "and"
	conditionOr      = "or"
	conditionPath    = "path_matches"
	conditionName    = "name_matches"
	conditionNumRefs = "num_refs"
	conditionAll     = "any_array"
	conditionTrue    = "true"
	conditionFalse   = "false"
)

// DimSplit is how many chunks one manifest covers along the dimensions it
// matches.
type DimSplit struct {
	Kind   string `msg:"kind" json:"kind"` // DimAxis, DimName or DimAny
	Axis   uint32 `msg:"axis,omitempty" json:"axis,omitempty"`
	Regex  string `msg:"regex,omitempty" json:"regex,omitempty"`
	Chunks uint32 `msg:"chunks" json:"chunks"` // at least 1
}

// Condition selects arrays (splitting) or manifests (preloading). Op is one
// of: path_matches (Regex matches the array's absolute path, as "/a/b"),
// name_matches (Regex matches its last name), num_refs (the manifest holds
// at least From, if set, and fewer than To, if set, chunk references; preload
// only), any_array, true, false, and (every condition in Of holds), or (some
// condition in Of holds). Regexes follow Go's RE2 syntax and match anywhere
// in the text unless anchored with ^ and $.
type Condition struct {
	Op    string      `msg:"op" json:"op"`
	Regex string      `msg:"regex,omitempty" json:"regex,omitempty"`
	From  *uint64     `msg:"from,omitempty" json:"from,omitempty"`
	To    *uint64     `msg:"to,omitempty" json:"to,omitempty"`
	Of    []Condition `msg:"of,omitempty" json:"of,omitempty"`
}

// validate checks the config's rules and regexes.
func (m *ManifestConfig) validate() error {
	if m == nil {
		return nil
	}
	if m.Preload != nil && m.Preload.If != nil {
		if err := m.Preload.If.validate(false); err != nil {
			return errors.Wrap(err, "manifest preload condition")
		}
	}
	for i, s := range m.Splitting {
		if err := s.If.validate(true); err != nil {
			return errors.Wrapf(err, "manifest splitting rule %d", i+1)
		}
		for _, d := range s.Dims {
			if d.Chunks == 0 {
				return errors.Newf("manifest splitting rule %d: a split of 0 chunks", i+1)
			}
			switch d.Kind {
			case DimAxis, DimAny:
			case DimName:
				if _, err := compiled(d.Regex); err != nil {
					return errors.Wrapf(err, "manifest splitting rule %d: dimension name", i+1)
				}
			default:
				return errors.Newf("manifest splitting rule %d: unknown dimension condition %q (want %q, %q or %q)", i+1, d.Kind, DimAxis, DimName, DimAny)
			}
		}
	}
	return nil
}

func (c *Condition) validate(split bool) error {
	switch c.Op {
	case conditionPath, conditionName:
		_, err := compiled(c.Regex)
		return err
	case conditionAnd, conditionOr:
		for i := range c.Of {
			if err := c.Of[i].validate(split); err != nil {
				return err
			}
		}
		return nil
	case conditionAll:
		if !split {
			return errors.Newf("condition %q selects arrays to split, not manifests to preload", c.Op)
		}
		return nil
	case conditionNumRefs, conditionTrue, conditionFalse:
		if split {
			return errors.Newf("condition %q selects manifests to preload, not arrays to split", c.Op)
		}
		if c.From != nil && c.To != nil && *c.From > *c.To {
			return errors.Newf("num_refs from %d is past to %d", *c.From, *c.To)
		}
		return nil
	}
	return errors.Newf("unknown condition %q", c.Op)
}

var regexes sync.Map // string -> *regexp.Regexp

// compiled returns the compiled regex, shared by every config using it.
func compiled(re string) (*regexp.Regexp, error) {
	if r, ok := regexes.Load(re); ok {
		return r.(*regexp.Regexp), nil
	}
	r, err := regexp.Compile(re)
	if err != nil {
		return nil, errors.Newf("regex %q: %v", re, err)
	}
	regexes.Store(re, r)
	return r, nil
}

func matches(re, s string) bool {
	r, err := compiled(re)
	return err == nil && r.MatchString(s)
}

// Matches reports whether the condition holds for the array at path
// (absolute, "/a/b") and, when preloading, one of its manifests holding
// numRefs chunk references.
func (c *Condition) Matches(path string, numRefs uint64) bool {
	switch c.Op {
	case conditionPath:
		return matches(c.Regex, path)
	case conditionName:
		return matches(c.Regex, path[strings.LastIndexByte(path, '/')+1:])
	case conditionNumRefs:
		return (c.From == nil || numRefs >= *c.From) && (c.To == nil || numRefs < *c.To)
	case conditionAll, conditionTrue:
		return true
	case conditionAnd:
		for i := range c.Of {
			if !c.Of[i].Matches(path, numRefs) {
				return false
			}
		}
		return true
	case conditionOr:
		for i := range c.Of {
			if c.Of[i].Matches(path, numRefs) {
				return true
			}
		}
		return false
	}
	return false
}

// SplitFor returns the manifest block shape the splitting rules give the
// array at path with the given dimension names (one per dimension, "" for
// an unnamed one), and false if no rule matches it. A dimension no entry of
// the matching rule names is not split (math.MaxUint32 chunks).
func (m *ManifestConfig) SplitFor(path string, dimNames []string) ([]uint32, bool) {
	if m == nil {
		return nil, false
	}
	for i := range m.Splitting {
		s := &m.Splitting[i]
		if !s.If.Matches(path, 0) {
			continue
		}
		shape := make([]uint32, len(dimNames))
		for d, name := range dimNames {
			shape[d] = math.MaxUint32
			for _, ds := range s.Dims {
				if ds.fits(d, name) {
					shape[d] = ds.Chunks
					break
				}
			}
		}
		return shape, true
	}
	return nil, false
}

func (ds *DimSplit) fits(axis int, name string) bool {
	switch ds.Kind {
	case DimAxis:
		return int64(ds.Axis) == int64(axis)
	case DimName:
		return name != "" && matches(ds.Regex, name)
	case DimAny:
		return true
	}
	return false
}
