package wrapper

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// A program that does not speak the protocol is told apart from one that
// failed to start, and named as the caller named it.
func TestDescribeTellsAProgramThatDoesNotSpeakTheProtocol(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		path, want string
		exit       int
	}{
		{"/bin/echo", "binary /bin/echo does not speak the gridrun protocol: --gridrun-describe failed: it exited 0 and wrote no description;", -1},
		{"/bin/false", "binary /bin/false does not speak the gridrun protocol: --gridrun-describe failed: binary exited with status 1", 1},
	} {
		_, err := Describe(context.Background(), Binary{Path: c.path})
		var nd *NotDescribedError
		if !errors.As(err, &nd) || nd.Binary != c.path || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want a *NotDescribedError saying %q", c.path, err, c.want)
			continue
		}
		var ee *ExitError
		if got := errors.As(err, &ee); got != (c.exit >= 0) || got && ee.Code != c.exit {
			t.Errorf("%s: exit error %v, want exit %d", c.path, ee, c.exit)
		}
	}
	_, err := Describe(context.Background(), Binary{Path: "/nonexistent/binary"})
	var se *StartError
	if !errors.As(err, &se) {
		t.Errorf("a binary that cannot start: err = %v, want a *StartError", err)
	}
}
