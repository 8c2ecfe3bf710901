package testbin

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"testing"
	"time"
)

// Chromium finds the browser end-to-end tests drive: $GRIDRUN_CHROMIUM or
// Debian's chromium. A missing browser fails the test rather than skipping
// it, so that a run without it does not pass unseen.
func Chromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("GRIDRUN_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed: `make test` installs it (scripts/deps chromium), or set GRIDRUN_CHROMIUM to a Chromium binary")
	return ""
}

// Headless runs Chromium with its network-facing features off, and
// returns its standard output (the page's DOM with --dump-dom).
func Headless(t testing.TB, browser string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, browser, append(base, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.Bytes())
	}
	return out
}
