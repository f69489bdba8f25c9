// Package jsonkind words JSON decoding errors for people: which values a
// field takes, in JSON's terms rather than Go's types.
package jsonkind

import (
	"encoding/json"
	"fmt"
	"reflect"
)

// Of says in words which JSON values a Go type takes ("a string", "a whole
// number from 0 to 255", ...).
func Of(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return fmt.Sprintf("a whole number from 0 to %d", uint64(1)<<(t.Bits()-1)<<1-1)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a " + t.String()
}

// Mismatch words a type mismatch: `"field" must be <kind>, not <what came>`
// (without the field at the top level). What came is the JSON kind and,
// for numbers, the number; a string's text is never repeated, so that
// secrets stay out of messages.
func Mismatch(e *json.UnmarshalTypeError) string {
	if e.Field == "" {
		return fmt.Sprintf("must be %s, not %s", Of(e.Type), e.Value)
	}
	return fmt.Sprintf("%q must be %s, not %s", e.Field, Of(e.Type), e.Value)
}
