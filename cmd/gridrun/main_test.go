package main

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Started once by an init function of a storage client dependency.
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}
