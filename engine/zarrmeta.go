package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"

	"github.com/cockroachdb/errors"
)

// This file parses the parts of a Zarr v3 zarr.json document the engine
// needs: the node type and, for arrays, the shape, the regular chunk grid,
// the chunk key encoding and the dimension names. Everything else (data
// type, codecs, fill value, attributes) is kept verbatim and never looked
// at.

// chunkKeyEncoding is the name of a Zarr v3 chunk key encoding.
type chunkKeyEncoding uint8

const (
	// encodingDefault is "default": "c" followed by the coordinates, each
	// preceded by the separator ("c/0/1", "c.0.1"); "c" for a 0-d array.
	encodingDefault chunkKeyEncoding = iota
	// encodingV2 is "v2": the coordinates joined by the separator ("0.1",
	// "0/1"); "0" for a 0-d array.
	encodingV2
)

func (e chunkKeyEncoding) String() string {
	if e == encodingV2 {
		return "v2"
	}
	return "default"
}

// zarrArrayInfo is what the key layer needs of an array's zarr.json to map
// chunk keys to coordinates and back. Sessions cache it per node id in
// Session.zarrInfo; src and srcLen identify the metadata bytes it was parsed
// from, so an entry that outlived a change of definition is never used.
type zarrArrayInfo struct {
	encoding  chunkKeyEncoding
	separator byte // '/' or '.'

	src    *byte // &meta[0] of the zarr.json bytes parsed (nil if empty)
	srcLen int
}

// defaultArrayInfo is used for arrays whose zarr.json names no usable
// chunk key encoding (arrays created through the node API with metadata
// that is not a zarr.json document).
var defaultArrayInfo = zarrArrayInfo{encoding: encodingDefault, separator: '/'}

// parsedFrom reports whether info was parsed from exactly these bytes.
func (info *zarrArrayInfo) parsedFrom(meta []byte) bool {
	return info.srcLen == len(meta) && info.src == sliceStart(meta)
}

func sliceStart(b []byte) *byte {
	if len(b) == 0 {
		return nil
	}
	return &b[0]
}

// zarrNodeMeta is a parsed zarr.json document.
type zarrNodeMeta struct {
	typ   NodeType
	array ArrayMeta     // arrays only
	info  zarrArrayInfo // arrays only; src is not set
}

// invalidMetadata builds an ErrInvalidMetadata error naming the key.
func invalidMetadata(key, format string, args ...any) error {
	return errors.Mark(errors.Newf("invalid zarr metadata in %q: %s", key, fmt.Sprintf(format, args...)), ErrInvalidMetadata)
}

// extensionPoint is a Zarr v3 extension value: an object with a name and
// an optional configuration, or a bare name string (the short-hand form).
type extensionPoint struct {
	Name          string
	Configuration map[string]json.RawMessage
}

func (e *extensionPoint) UnmarshalJSON(data []byte) error {
	if len(data) > 0 && data[0] == '"' {
		return json.Unmarshal(data, &e.Name)
	}
	var obj struct {
		Name          *string                    `json:"name"`
		Configuration map[string]json.RawMessage `json:"configuration"`
	}
	if err := json.Unmarshal(data, &obj); err != nil {
		return err
	}
	if obj.Name == nil {
		return errors.New(`no "name"`)
	}
	e.Name, e.Configuration = *obj.Name, obj.Configuration
	return nil
}

// parseZarrJSON parses the zarr.json document stored at key (the key is
// only used in messages). Errors carry ErrInvalidMetadata.
//
// Rules: the document is a JSON object; "zarr_format", when present, is 3;
// "node_type" is "group" or "array". An array has "shape" (non-negative
// integers), "chunk_grid" (name "regular" with configuration.chunk_shape,
// positive integers of the same rank), "chunk_key_encoding" (name "default",
// separator "/" by default, or "v2", separator "." by default; the
// separator is "/" or ".") and optionally "dimension_names" (one string or
// null per dimension). Other fields are not checked.
func parseZarrJSON(key string, data []byte) (*zarrNodeMeta, error) {
	var doc map[string]json.RawMessage
	err := json.Unmarshal(data, &doc)
	if err != nil {
		if standard, changed := nonFiniteAsNull(data); changed {
			err = json.Unmarshal(standard, &doc)
		}
	}
	if err != nil {
		return nil, invalidMetadata(key, "not a JSON object: %v", err)
	}
	if doc == nil {
		return nil, invalidMetadata(key, "not a JSON object")
	}
	field := func(name string) (json.RawMessage, bool) {
		raw, ok := doc[name]
		if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			return nil, false
		}
		return raw, true
	}
	if raw, ok := field("zarr_format"); ok {
		var f int
		if err := json.Unmarshal(raw, &f); err != nil || f != 3 {
			return nil, invalidMetadata(key, "zarr_format is %s, expected 3", raw)
		}
	}
	raw, ok := field("node_type")
	if !ok {
		return nil, invalidMetadata(key, `missing "node_type"`)
	}
	var nodeType string
	if err := json.Unmarshal(raw, &nodeType); err != nil {
		return nil, invalidMetadata(key, `"node_type" is not a string: %s`, raw)
	}
	switch nodeType {
	case "group":
		return &zarrNodeMeta{typ: GroupNode}, nil
	case "array":
	default:
		return nil, invalidMetadata(key, `"node_type" is %q, expected "group" or "array"`, nodeType)
	}

	out := &zarrNodeMeta{typ: ArrayNode}
	raw, ok = field("shape")
	if !ok {
		return nil, invalidMetadata(key, `array without "shape"`)
	}
	if err := json.Unmarshal(raw, &out.array.Shape); err != nil {
		return nil, invalidMetadata(key, `"shape" is not a list of non-negative integers: %s`, raw)
	}
	if out.array.Shape == nil {
		out.array.Shape = []uint64{}
	}
	rank := len(out.array.Shape)

	raw, ok = field("chunk_grid")
	if !ok {
		return nil, invalidMetadata(key, `array without "chunk_grid"`)
	}
	var grid extensionPoint
	if err := json.Unmarshal(raw, &grid); err != nil {
		return nil, invalidMetadata(key, `bad "chunk_grid": %v`, err)
	}
	if grid.Name != "regular" {
		return nil, invalidMetadata(key, `chunk grid %q is not supported, only "regular"`, grid.Name)
	}
	rawShape, ok := grid.Configuration["chunk_shape"]
	if !ok {
		return nil, invalidMetadata(key, `regular chunk grid without "chunk_shape"`)
	}
	if err := json.Unmarshal(rawShape, &out.array.ChunkShape); err != nil || out.array.ChunkShape == nil {
		return nil, invalidMetadata(key, `"chunk_shape" is not a list of positive integers: %s`, rawShape)
	}
	if len(out.array.ChunkShape) != rank {
		return nil, invalidMetadata(key, "chunk shape %v and shape %v differ in rank", out.array.ChunkShape, out.array.Shape)
	}
	for i, c := range out.array.ChunkShape {
		if c == 0 {
			return nil, invalidMetadata(key, "chunk shape %v has a zero", out.array.ChunkShape)
		}
		n := out.array.Shape[i]
		if n > math.MaxUint64-c+1 || n/c+min(n%c, 1) > math.MaxUint32 {
			return nil, invalidMetadata(key, "shape %v with chunk shape %v has too many chunks along dimension %d", out.array.Shape, out.array.ChunkShape, i)
		}
	}

	raw, ok = field("chunk_key_encoding")
	if !ok {
		return nil, invalidMetadata(key, `array without "chunk_key_encoding"`)
	}
	info, err := parseChunkKeyEncoding(raw)
	if err != nil {
		return nil, invalidMetadata(key, `bad "chunk_key_encoding": %v`, err)
	}
	out.info = info

	if raw, ok := field("dimension_names"); ok {
		var names []*string
		if err := json.Unmarshal(raw, &names); err != nil {
			return nil, invalidMetadata(key, `"dimension_names" is not a list of strings or nulls: %s`, raw)
		}
		if len(names) != rank {
			return nil, invalidMetadata(key, "%d dimension names for %d dimensions", len(names), rank)
		}
		out.array.DimensionNames = make([]string, rank)
		for i, n := range names {
			if n != nil {
				out.array.DimensionNames[i] = *n
			}
		}
	}
	return out, nil
}

// parseChunkKeyEncoding parses a "chunk_key_encoding" value.
func parseChunkKeyEncoding(raw json.RawMessage) (zarrArrayInfo, error) {
	var enc extensionPoint
	if err := json.Unmarshal(raw, &enc); err != nil {
		return zarrArrayInfo{}, err
	}
	var info zarrArrayInfo
	switch enc.Name {
	case "default":
		info = zarrArrayInfo{encoding: encodingDefault, separator: '/'}
	case "v2":
		info = zarrArrayInfo{encoding: encodingV2, separator: '.'}
	default:
		return zarrArrayInfo{}, errors.Newf(`encoding %q is not supported, only "default" and "v2"`, enc.Name)
	}
	if rawSep, ok := enc.Configuration["separator"]; ok {
		var sep string
		if err := json.Unmarshal(rawSep, &sep); err != nil || (sep != "/" && sep != ".") {
			return zarrArrayInfo{}, errors.Newf(`separator %s is not "/" or "."`, rawSep)
		}
		info.separator = sep[0]
	}
	return info, nil
}

// arrayInfoFromMeta extracts the chunk key encoding of an array's zarr.json
// leniently: metadata that is not a zarr.json document, or names no valid
// encoding, gives the default encoding with "/".
func arrayInfoFromMeta(meta []byte) *zarrArrayInfo {
	info := defaultArrayInfo
	var doc struct {
		ChunkKeyEncoding json.RawMessage `json:"chunk_key_encoding"`
	}
	if json.Unmarshal(meta, &doc) == nil && len(doc.ChunkKeyEncoding) > 0 {
		if parsed, err := parseChunkKeyEncoding(doc.ChunkKeyEncoding); err == nil {
			info = parsed
		}
	}
	info.src, info.srcLen = sliceStart(meta), len(meta)
	return &info
}

// nonFiniteAsNull returns data with the bare words NaN, Infinity and
// -Infinity outside strings replaced by null, and whether there were any.
// zarr-python writes non-finite floats that way (Python's json does, as
// in an attribute missing_value = NaN from netCDF), and reads them back;
// JSON has no such numbers. The engine reads no attribute, so it parses
// them as null and stores the document as written.
func nonFiniteAsNull(data []byte) ([]byte, bool) {
	var out []byte
	inString, escaped, last := false, false, 0
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		if c == '"' {
			inString = true
			continue
		}
		for _, word := range []string{"-Infinity", "Infinity", "NaN"} {
			if bytes.HasPrefix(data[i:], []byte(word)) {
				out = append(append(out, data[last:i]...), "null"...)
				i += len(word) - 1
				last = i + 1
				break
			}
		}
	}
	if out == nil {
		return data, false
	}
	return append(out, data[last:]...), true
}
