package logs_test

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/cockroachdb/errors"

	"github.com/icechunk-go/icechunk-go/logs"
	"github.com/icechunk-go/icechunk-go/logs/logstest"
)

// levelOf is the lowest level a logger writes (slog's levels run from
// debug up to error; above error, nothing).
func levelOf(l *slog.Logger) slog.Level {
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
		if l.Enabled(context.Background(), level) {
			return level
		}
	}
	return levelOff
}

const levelOff = slog.LevelError + 1

func TestFilterLevelsPerComponent(t *testing.T) {
	cases := []struct {
		filter          string
		storage, engine slog.Level
	}{
		{"", slog.LevelWarn, slog.LevelWarn},
		{"  ", slog.LevelWarn, slog.LevelWarn},
		{"debug", slog.LevelDebug, slog.LevelDebug},
		{"INFO", slog.LevelInfo, slog.LevelInfo},
		{"off", levelOff, levelOff},
		{"storage=debug", slog.LevelDebug, slog.LevelWarn},
		{"debug,storage=info", slog.LevelInfo, slog.LevelDebug},
		{"storage=info,debug", slog.LevelDebug, slog.LevelDebug}, // later wins
		{" engine = error , storage=off ", levelOff, slog.LevelError},
		{"info,", slog.LevelInfo, slog.LevelInfo},
		// Upstream Icechunk's values of ICECHUNK_LOG.
		{"trace", slog.LevelDebug, slog.LevelDebug},
		{"icechunk=debug", slog.LevelDebug, slog.LevelDebug},
		{"icechunk::storage=trace", slog.LevelDebug, slog.LevelWarn},
		{"icechunk::storage::s3=info", slog.LevelInfo, slog.LevelWarn},
		{"icechunk::session=debug", slog.LevelWarn, slog.LevelDebug},
		{"icechunk=info,icechunk::storage=off", levelOff, slog.LevelInfo},
	}
	logstest.Capture(t, "warn")
	for _, c := range cases {
		if _, err := logs.SetFilter(c.filter); err != nil {
			t.Fatalf("%q: %v", c.filter, err)
		}
		if got := levelOf(logs.Storage); got != c.storage {
			t.Errorf("%q: storage at %v, want %v", c.filter, got, c.storage)
		}
		if got := levelOf(logs.Engine); got != c.engine {
			t.Errorf("%q: engine at %v, want %v", c.filter, got, c.engine)
		}
	}
}

func TestInvalidFiltersNameWhatIsWrong(t *testing.T) {
	logstest.Capture(t, "warn")
	for filter, want := range map[string]string{
		"loud":             `unknown level "loud"`,
		"storage=verbose":  `unknown level "verbose" in "storage=verbose"`,
		"network=debug":    `unknown component "network" in "network=debug" (components: storage, engine, or upstream's icechunk and icechunk::module)`,
		"icechunk::=debug": `unknown component "icechunk::"`,
		"aws_sdk_s3=debug": `unknown component "aws_sdk_s3"`,
		"debug,=info":      `unknown component ""`,
		"storage=":         `unknown level ""`,
		"info,storage=x=1": `unknown level "x=1"`,
		"loud,storage=off": `(levels: off, error, warn, info, debug, trace)`,
	} {
		_, err := logs.SetFilter(filter)
		if !errors.Is(err, logs.ErrInvalidFilter) {
			t.Fatalf("%q: %v, want logs.ErrInvalidFilter", filter, err)
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %q does not say %q", filter, err, want)
		}
	}
}

func TestSetFilterKeepsTheOldFilterOnError(t *testing.T) {
	logstest.Capture(t, "info")
	prev, err := logs.SetFilter("storage=loud")
	if err == nil || prev != "info" || logs.Filter() != "info" {
		t.Fatalf("logs.SetFilter of a bad filter: previous %q, %v; now %q, want the error and \"info\" kept", prev, err, logs.Filter())
	}
	if prev, err := logs.SetFilter("debug"); err != nil || prev != "info" || logs.Filter() != "debug" {
		t.Fatalf("logs.SetFilter: previous %q, %v; now %q", prev, err, logs.Filter())
	}
}

func TestSetFilterFromEnv(t *testing.T) {
	logstest.Capture(t, "off")
	t.Setenv(logs.EnvVar, "engine=debug")
	if _, err := logs.SetFilterFromEnv(); err != nil || !logs.Engine.Enabled(context.Background(), slog.LevelDebug) || logs.Storage.Enabled(context.Background(), slog.LevelInfo) {
		t.Fatalf("from %s=engine=debug: %v, filter %q", logs.EnvVar, err, logs.Filter())
	}
	t.Setenv(logs.EnvVar, "")
	if _, err := logs.SetFilterFromEnv(); err != nil || logs.Filter() != logs.DefaultFilter {
		t.Fatalf("from an empty %s: %v, filter %q, want %q", logs.EnvVar, err, logs.Filter(), logs.DefaultFilter)
	}
}

func TestLinesCarryComponentAndAttributes(t *testing.T) {
	out := logstest.Capture(t, "storage=debug,engine=info")
	ctx := context.Background()
	logs.Storage.Debug("request", "op", "get", "key", "refs/branch.main/0")
	logs.Engine.Debug("not shown")
	logs.Engine.With("branch", "main").WithGroup("commit").Info("landed", "snapshot", "ABC")
	logs.Storage.WithGroup("g").Log(ctx, slog.LevelDebug-4, "below debug, not shown")
	logs.Storage.Info("failed", "err", errors.Wrap(errors.New("connection refused"), "reading"))
	lines := out.All()
	if len(lines) != 3 {
		t.Fatalf("wrote %d lines, want 2:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for _, want := range []string{"level=DEBUG", "msg=request", "component=storage", "op=get", "key=refs/branch.main/0"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("line %q lacks %q", lines[0], want)
		}
	}
	for _, want := range []string{"level=INFO", "msg=landed", "component=engine", "branch=main", "commit.snapshot=ABC"} {
		if !strings.Contains(lines[1], want) {
			t.Errorf("line %q lacks %q", lines[1], want)
		}
	}
	if !strings.HasSuffix(lines[2], `err="reading: connection refused"`) {
		t.Errorf("an error is written as more than its message: %q", lines[2])
	}
	if !regexp.MustCompile(`^time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d) `).MatchString(lines[0]) {
		t.Errorf("line %q does not start with its time in microseconds", lines[0])
	}
}

func TestFilterChangesWhileLogging(t *testing.T) {
	out := logstest.Capture(t, "off")
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				logs.Storage.Info("tick")
			}
		}()
	}
	for _, f := range []string{"info", "off", "storage=info", "warn"} {
		if _, err := logs.SetFilter(f); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	for _, l := range out.All() {
		if !strings.Contains(l, "msg=tick") || !strings.Contains(l, "component=storage") {
			t.Fatalf("a torn or foreign line: %q", l)
		}
	}
}
