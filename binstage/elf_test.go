package binstage_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridrun/gridrun/binstage"
	"github.com/gridrun/gridrun/internal/testbin"
)

// The example pricer as make builds it names the dynamic loader; as make
// pricer-static builds it, none. Each answer is checked against file(1),
// which reads the ELF headers on its own.
func TestInterpreter(t *testing.T) {
	t.Parallel()
	script := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	fileSays := func(path string) string {
		out, err := exec.Command("file", "-b", path).Output()
		if err != nil {
			t.Skipf("file(1): %v", err)
		}
		return string(out)
	}
	for _, c := range []struct {
		name, path string
		dynamic    bool
	}{
		{"pricer", testbin.Path(t, "pricer"), true},
		{"pricer-static", testbin.Path(t, "pricer-static"), false},
		{"a script", script, false},
	} {
		interp, err := binstage.Interpreter(c.path)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if (interp != "") != c.dynamic {
			t.Errorf("%s: interpreter %q, want one: %v", c.name, interp, c.dynamic)
		}
		desc := fileSays(c.path)
		if c.dynamic && !strings.Contains(desc, "interpreter "+interp) {
			t.Errorf("%s: interpreter %q; file(1) says %s", c.name, interp, desc)
		}
		if c.name == "pricer-static" && !strings.Contains(desc, "statically linked") {
			t.Errorf("%s: file(1) says %s", c.name, desc)
		}
	}
	if _, err := binstage.Interpreter(filepath.Join(t.TempDir(), "absent")); !os.IsNotExist(err) {
		t.Errorf("an absent file: %v, want not found", err)
	}
}
