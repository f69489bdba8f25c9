package storage

import (
	"strings"
	"unicode/utf8"

	"github.com/cockroachdb/errors"
)

// MaxKeyLength is the longest key any backend accepts, in bytes (S3's limit).
const MaxKeyLength = 1024

// ValidateKey checks the rules every backend enforces on a key: not empty, at
// most MaxKeyLength bytes, valid UTF-8, no NUL or backslash, not absolute, and
// no empty, "." or ".." segment. A key that passes cannot escape a storage
// root on any backend. The error carries ErrInvalidKey and names the key and
// the rule it broke.
func ValidateKey(key string) error {
	bad := func(why string) error {
		return errors.Mark(errors.Newf("invalid storage key %q: %s", key, why), ErrInvalidKey)
	}
	switch {
	case key == "":
		return bad("empty")
	case len(key) > MaxKeyLength:
		return bad("longer than 1024 bytes")
	case !utf8.ValidString(key):
		return bad("not valid UTF-8")
	case strings.ContainsRune(key, 0):
		return bad("contains NUL")
	case strings.ContainsRune(key, '\\'):
		return bad("contains a backslash")
	case strings.HasPrefix(key, "/"):
		return bad("absolute path")
	}
	for _, seg := range strings.Split(key, "/") {
		switch seg {
		case "":
			return bad("empty path segment")
		case ".", "..":
			return bad("relative path segment " + seg)
		}
	}
	return nil
}

// ValidatePrefix checks a List prefix: empty, or a string that would be a
// valid key once completed (so "snapshots/" and "refs/branch." are fine, but
// "../" is not).
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	trimmed := strings.TrimSuffix(prefix, "/")
	if trimmed == "" {
		return errors.Mark(errors.Newf("invalid list prefix %q", prefix), ErrInvalidKey)
	}
	if err := ValidateKey(trimmed); err != nil {
		return errors.Mark(errors.Wrapf(err, "invalid list prefix %q", prefix), ErrInvalidKey)
	}
	return nil
}
