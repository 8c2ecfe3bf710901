package wrapper

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"
)

func startWorker(t *testing.T, mode string) *Worker {
	t.Helper()
	w, err := StartWorker(fake(t, mode), &Options{LogDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(false); assertGone(t, w.proc.pid) })
	return w
}

// One process serves batch after batch.
func TestAWorkerServesManyBatches(t *testing.T) {
	t.Parallel()
	w := startWorker(t, "serve")
	var pid string
	for range 5 {
		c, err := w.Start(context.Background(), batchOf(20))
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.Wait()
		if err != nil || len(out.Results) != 20 || len(out.Pending) != 0 || !out.Shared {
			t.Fatalf("err %v, %d results, pending %v", err, len(out.Results), out.Pending)
		}
		if pid != "" && string(out.Results[0].GetPayload()) != pid {
			t.Fatal("a new process served the batch")
		}
		pid = string(out.Results[0].GetPayload())
	}
	if !w.Alive() {
		t.Fatal("worker ended")
	}
	held := batchOf(1)
	held.Elements[0].Id = "hold" // served until the worker is closed
	if _, err := w.Start(context.Background(), held); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Start(context.Background(), batchOf(1)); !errors.Is(err, ErrWorkerBusy) {
		t.Fatalf("a second call while one runs: %v", err)
	}
}

// A worker that dies in a batch ends its call like a crash: the results
// before are kept, the rest pending, and the worker is gone.
func TestAWorkerCrashEndsItsCall(t *testing.T) {
	t.Parallel()
	w := startWorker(t, "serve-crash:2")
	c, _ := w.Start(context.Background(), batchOf(10))
	if _, err := c.Wait(); err != nil {
		t.Fatal(err)
	}
	c, _ = w.Start(context.Background(), batchOf(10))
	out, err := c.Wait()
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Signal != syscall.SIGKILL {
		t.Fatalf("err %v, want death by SIGKILL", err)
	}
	if len(out.Results) != 3 || len(out.Pending) != 7 {
		t.Fatalf("%d results, %d pending", len(out.Results), len(out.Pending))
	}
	if w.Alive() {
		t.Fatal("a crashed worker is alive")
	}
	if _, err := w.Start(context.Background(), batchOf(1)); !errors.Is(err, ErrWorkerGone) {
		t.Fatalf("a call to a dead worker: %v", err)
	}
}

// A worker whose results stream has ended takes no call, even while its
// process lives on: nothing would ever end that call.
func TestAWorkerWithItsResultsClosedTakesNoCall(t *testing.T) {
	t.Parallel()
	w := startWorker(t, "serve-close")
	c, err := w.Start(context.Background(), batchOf(5))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(); err != nil {
		t.Fatal(err)
	}
	<-w.readDone // the stream has ended; the process has not exited
	c, err = w.Start(context.Background(), batchOf(1))
	if errors.Is(err, ErrWorkerGone) {
		return
	}
	if err != nil {
		t.Fatalf("a call to a worker whose stream ended: %v, want ErrWorkerGone", err)
	}
	select {
	case <-c.Exited():
	case <-time.After(30 * time.Second):
		t.Fatal("a call to a worker whose results stream had ended never ended")
	}
}

// A call's context is cancelled after the call has ended, when the worker
// may be idle or serving the next call: that cancellation stops nothing.
// supervise is run again by hand because its goroutine, woken by both the
// end and the cancellation, picks either at random.
func TestACancelledContextOfAnEndedCallLeavesTheWorker(t *testing.T) {
	t.Parallel()
	w := startWorker(t, "serve")
	for i := range 20 {
		ctx, cancel := context.WithCancel(context.Background())
		c, err := w.Start(ctx, batchOf(3))
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if _, err := c.Wait(); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		cancel()
		c.supervise()
		if !w.Alive() {
			t.Fatalf("the worker ended after call %d's context was cancelled", i)
		}
	}
}

func TestAWorkerWritingGarbageIsKilled(t *testing.T) {
	t.Parallel()
	w := startWorker(t, "serve-garbage")
	c, _ := w.Start(context.Background(), batchOf(3))
	_, err := c.Wait()
	var oe *OutputError
	if !errors.As(err, &oe) {
		t.Fatalf("err %v, want an OutputError", err)
	}
	if w.Alive() {
		t.Fatal("the worker survived a protocol violation")
	}
}

func TestCancellingAWorkerCallEndsTheWorker(t *testing.T) {
	t.Parallel()
	w := startWorker(t, "serve-crash:99") // serves, but never ends a batch it is killed in
	ctx, cancel := context.WithCancel(context.Background())
	c, _ := w.Start(ctx, batchOf(3))
	if _, err := c.Wait(); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := w.Start(ctx, batchOf(3)); !errors.Is(err, context.Canceled) {
		t.Fatalf("start with a cancelled context: %v", err)
	}
}
