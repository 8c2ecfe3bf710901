package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/gcpopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/dataflow"
)

// requireDataflowFlags asks for what the Dataflow runner would otherwise
// look up: with no -project it reads the application default credentials
// for theirs, with no -region it runs gcloud. A dry run does neither.
func requireDataflowFlags() error {
	switch staging := flagString("staging_location"); {
	case *gcpopts.Project == "":
		return usagef("no Google Cloud project: give -project")
	case *gcpopts.Region == "":
		return usagef("no Google Cloud region: give -region")
	case !strings.HasPrefix(staging, "gs://"):
		return usagef("no staging location: give -staging_location gs://BUCKET/PATH")
	}
	return nil
}

// dataflowDryRun runs the pipeline through the Beam SDK's Dataflow runner
// with -dry_run set, and returns the Dataflow job it printed: the runner
// reads and checks its flags as for a submission (the project, region and
// staging location; the autoscaling algorithm, the FlexRS goal, labels,
// public IPs, one container image at most, ...), translates the pipeline
// and prints the job instead of staging and submitting it. An option the
// runner rejects is a usage error here.
//
// The runner prints through Beam's log, which is captured for the
// duration. Nothing goes to Google Cloud: the runner's one call in this
// mode, the check of the staging and temp buckets' soft-delete policy,
// goes to a loopback server of this process that answers every request
// with 404 (STORAGE_EMULATOR_HOST, the storage client's own switch for
// another endpoint, which also keeps it from reading credentials); the
// runner logs that it could not check, and goes on. Staging the worker
// binary and the pipeline, the submission itself and the runner's
// credentials are the real run's.
func dataflowDryRun(ctx context.Context, p *beam.Pipeline) (job string, err error) {
	stub, err := startNoCloud()
	if err != nil {
		return "", err
	}
	defer stub.close()
	prev, had := os.LookupEnv("STORAGE_EMULATOR_HOST")
	os.Setenv("STORAGE_EMULATOR_HOST", stub.addr)
	defer func() {
		if had {
			os.Setenv("STORAGE_EMULATOR_HOST", prev)
		} else {
			os.Unsetenv("STORAGE_EMULATOR_HOST")
		}
	}()
	capture := &captureLog{}
	beamlog.SetLogger(capture)
	defer beamlog.SetLogger(&beamlog.Structural{})
	// Set only for this run, the flag is not one of the job's options.
	dataflow.DontUseFlagAsPipelineOption("dry_run")

	defer func() {
		// The runner panics on some flags (two container images).
		if r := recover(); r != nil {
			err = usagef("the Dataflow runner rejects the job: %v", r)
		}
	}()
	if _, err := dataflow.Execute(ctx, p); err != nil {
		return "", usagef("the Dataflow runner rejects the job: %v", err)
	}
	job = capture.job()
	if job == "" {
		return "", errors.New("the Dataflow runner's dry run printed no job")
	}
	for _, w := range capture.warnings() {
		// The soft-delete check the loopback server answered.
		if stub.requests.Load() > 0 && strings.Contains(w, "SoftDeletePolicy") {
			continue
		}
		slog.Warn("Dataflow runner: " + w)
	}
	return job, nil
}

// captureLog keeps what Beam logs: the Dataflow runner prints its dry
// run's job as one message.
type captureLog struct {
	mu   sync.Mutex
	info []string
	warn []string
}

func (c *captureLog) Log(_ context.Context, sev beamlog.Severity, _ int, msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if sev >= beamlog.SevWarn {
		c.warn = append(c.warn, strings.TrimSpace(msg))
	} else {
		c.info = append(c.info, msg)
	}
}

// job is the last message that is a JSON object: dataflowlib.PrintJob's,
// after the pipeline's text.
func (c *captureLog) job() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.info) - 1; i >= 0; i-- {
		if m := strings.TrimSpace(c.info[i]); strings.HasPrefix(m, "{") {
			return m
		}
	}
	return ""
}

func (c *captureLog) warnings() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.warn...)
}

// noCloud is a loopback HTTP server that answers 404 to everything and
// counts the requests.
type noCloud struct {
	addr     string
	srv      *http.Server
	requests atomic.Int64
}

func startNoCloud() (*noCloud, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("the dry run's loopback server: %w", err)
	}
	n := &noCloud{addr: l.Addr().String()}
	n.srv = &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			n.requests.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"error":{"code":404,"message":"a gridrun dry run makes no call to Cloud Storage"}}`)
		}),
	}
	go n.srv.Serve(l)
	return n, nil
}

func (n *noCloud) close() { n.srv.Close() }
