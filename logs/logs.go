// Package logs is the library's diagnostic log: lines on standard error
// about what a caller cannot see in results (requests retried, races for a
// branch lost, rebases, commits landed), filtered by level per component.
//
// The filter is a list of directives separated by commas. A directive is a
// level (off, error, warn, info, debug), which applies to every component,
// or component=level, for one component (storage: each request to the
// store, retries; engine: commits, rebases, conflicts, branch and tag
// moves, maintenance). Later directives win: "debug,storage=info" is every
// component at debug except storage. The filter at start comes from the
// ICECHUNK_LOG environment variable, and is "warn" when that is unset or
// empty; SetFilter changes it at any time.
//
// Values written for upstream Icechunk's ICECHUNK_LOG mean the same here:
// the level trace is debug, the target icechunk is every component,
// icechunk::storage (and its submodules) is storage, and any other
// icechunk::module is engine.
//
// Lines are slog's text format (time=... level=... msg=... component=...
// and the event's attributes; the time in RFC 3339 with microseconds),
// one Write per line, so lines from concurrent work do not interleave.
package logs

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/cockroachdb/errors"
)

// EnvVar names the environment variable read for the filter at start.
const EnvVar = "ICECHUNK_LOG"

// DefaultFilter is the filter when none is given: warnings and errors
// only, which the library hardly ever writes, so a program embedding it
// sees nothing unless something is wrong.
const DefaultFilter = "warn"

// ErrInvalidFilter marks a filter that could not be parsed.
var ErrInvalidFilter = errors.New("invalid log filter")

// Components are the parts of the library that log, in the order the
// documentation lists them.
var Components = []string{"storage", "engine"}

// levelOff is above every level slog gives a name to, so nothing passes it.
const levelOff = slog.Level(1 << 20)

var levelNames = []struct {
	name  string
	level slog.Level
}{
	{"off", levelOff},
	{"error", slog.LevelError},
	{"warn", slog.LevelWarn},
	{"info", slog.LevelInfo},
	{"debug", slog.LevelDebug},
	{"trace", slog.LevelDebug}, // upstream's finest level; nothing here is finer than debug
}

// filter is a parsed filter: the level of each component.
type filter struct {
	text   string
	levels map[string]slog.Level
}

func (f *filter) level(component string) slog.Level { return f.levels[component] }

// parse reads a filter; the empty string (or only spaces) is
// DefaultFilter. The error, marked ErrInvalidFilter, names the directive
// that is wrong and what would be accepted.
func parse(text string) (*filter, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		text = DefaultFilter
	}
	f := &filter{text: text, levels: map[string]slog.Level{}}
	for _, d := range strings.Split(text, ",") {
		d = strings.TrimSpace(d)
		if d == "" {
			continue
		}
		component, levelName, scoped := strings.Cut(d, "=")
		component, levelName = strings.TrimSpace(component), strings.TrimSpace(levelName)
		if !scoped {
			levelName, component = component, ""
		}
		level, ok := levelByName(levelName)
		if !ok {
			return nil, errors.Mark(errors.Newf("log filter %q: unknown level %q in %q (levels: %s)", text, levelName, d, levelList()), ErrInvalidFilter)
		}
		targets, ok := Components, true
		if scoped {
			targets, ok = componentsNamed(component)
		}
		if !ok {
			return nil, errors.Mark(errors.Newf("log filter %q: unknown component %q in %q (components: %s, or upstream's icechunk and icechunk::module)", text, component, d, strings.Join(Components, ", ")), ErrInvalidFilter)
		}
		for _, c := range targets {
			f.levels[c] = level
		}
	}
	def, _ := levelByName(DefaultFilter)
	for _, c := range Components {
		if _, set := f.levels[c]; !set {
			f.levels[c] = def
		}
	}
	return f, nil
}

// componentsNamed returns the components a directive's target names: one
// of Components, or an upstream Icechunk target (see the package doc).
func componentsNamed(target string) ([]string, bool) {
	switch {
	case slices.Contains(Components, target):
		return []string{target}, true
	case target == "icechunk":
		return Components, true
	case target == "icechunk::storage" || strings.HasPrefix(target, "icechunk::storage::"):
		return []string{"storage"}, true
	case strings.HasPrefix(target, "icechunk::") && len(target) > len("icechunk::"):
		return []string{"engine"}, true
	}
	return nil, false
}

func levelByName(name string) (slog.Level, bool) {
	for _, l := range levelNames {
		if strings.EqualFold(l.name, name) {
			return l.level, true
		}
	}
	return 0, false
}

func levelList() string {
	names := make([]string, len(levelNames))
	for i, l := range levelNames {
		names[i] = l.name
	}
	return strings.Join(names, ", ")
}

var (
	current atomic.Pointer[filter]
	sink    atomic.Pointer[slog.TextHandler]
)

// stderr is where lines go unless SetOutput says otherwise.
var stderr io.Writer = os.Stderr

func init() {
	SetOutput(stderr)
	env := os.Getenv(EnvVar)
	f, err := parse(env)
	if err != nil {
		// No caller to return this to: say so once, and keep the default.
		f, _ = parse(DefaultFilter)
		fmt.Fprintf(os.Stderr, "icechunk: ignoring %s: %v\n", EnvVar, err)
	}
	current.Store(f)
}

// SetFilter replaces the filter and returns the one it replaces. The
// filter is left unchanged if text does not parse.
func SetFilter(text string) (previous string, err error) {
	f, err := parse(text)
	if err != nil {
		return current.Load().text, err
	}
	return current.Swap(f).text, nil
}

// SetFilterFromEnv sets the filter from ICECHUNK_LOG again (DefaultFilter
// when it is unset or empty), as at start.
func SetFilterFromEnv() (previous string, err error) {
	return SetFilter(os.Getenv(EnvVar))
}

// Filter returns the filter in force, as it was given.
func Filter() string { return current.Load().text }

// SetOutput sends the lines to w (standard error at start); tests use it.
// w must be safe for one Write at a time; the handler serialises them.
func SetOutput(w io.Writer) {
	sink.Store(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: microseconds}))
}

// timeFormat is RFC 3339 with microseconds: storage requests on a fast
// network take well under a millisecond, and a timeline of them (one
// line each) needs a finer clock than slog's default milliseconds.
const timeFormat = "2006-01-02T15:04:05.000000Z07:00"

// microseconds writes a line's time in timeFormat.
func microseconds(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime {
		return slog.String(slog.TimeKey, a.Value.Time().Format(timeFormat))
	}
	return a
}

// The loggers of the components. Their Enabled is one atomic load and a
// map lookup, so a hot path asks it before it builds a line's attributes.
var (
	Storage = slog.New(&handler{component: "storage"})
	Engine  = slog.New(&handler{component: "engine"})
)

// handler checks the component's level in the filter in force, and writes
// through the sink in force, so both can change while loggers are in use.
type handler struct {
	component string
	// wrap replays WithAttrs and WithGroup on the sink, in order.
	wrap []func(slog.Handler) slog.Handler
}

func (h *handler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= current.Load().level(h.component)
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	r = plainErrors(r)
	var out slog.Handler = sink.Load().WithAttrs([]slog.Attr{slog.String("component", h.component)})
	for _, w := range h.wrap {
		out = w(out)
	}
	return out.Handle(ctx, r)
}

func (h *handler) with(w func(slog.Handler) slog.Handler) *handler {
	wrap := append(append([]func(slog.Handler) slog.Handler(nil), h.wrap...), w)
	return &handler{component: h.component, wrap: wrap}
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return h.with(func(s slog.Handler) slog.Handler { return s.WithAttrs(attrs) })
}

func (h *handler) WithGroup(name string) slog.Handler {
	return h.with(func(s slog.Handler) slog.Handler { return s.WithGroup(name) })
}

// plainErrors writes errors as their messages: slog formats a value with
// %+v, which for this library's errors adds stack traces to every line.
func plainErrors(r slog.Record) slog.Record {
	plain := true
	r.Attrs(func(a slog.Attr) bool {
		_, isErr := a.Value.Any().(error)
		plain = !isErr
		return plain
	})
	if plain {
		return r
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok {
			a = slog.String(a.Key, err.Error())
		}
		out.AddAttrs(a)
		return true
	})
	return out
}
