package wrapper

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	gridrunv1 "github.com/gridrun/gridrun/proto/gridrun/v1"
)

// The test binary doubles as the fake binaries of these tests, as os/exec's
// own tests do: with FAKE_BINARY set it behaves as a misbehaving gridrun
// binary instead of running tests.
func TestMain(m *testing.M) {
	if mode := os.Getenv("FAKE_BINARY"); mode != "" {
		os.Exit(fakeBinary(mode, os.Args[1:]))
	}
	goleak.VerifyTestMain(m)
}

// fake returns a Binary that runs this test binary in the given mode.
func fake(t *testing.T, mode string, env ...string) Binary {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// Under -race, a Go program sleeps a second at exit unless told not to.
	return Binary{Path: exe, Env: append([]string{"FAKE_BINARY=" + mode, "GORACE=atexit_sleep_ms=0"}, env...)}
}

func batchOf(n int) *gridrunv1.Batch {
	b := &gridrunv1.Batch{JobId: "job", BatchId: "b1", Attempt: 1}
	for i := range n {
		id := fmt.Sprintf("e%03d", i)
		b.Elements = append(b.Elements, &gridrunv1.Element{Id: id, Payload: []byte("in-" + id)})
	}
	return b
}

// fakeBinary implements the protocol with faults on request. Modes:
//
//	ok               one result per element, payload "out-" + input payload
//	fail-at:N        element N gets an element error
//	die-at:N         N results, then death by SIGKILL (a Go program cannot die of
//	                 its own SIGSEGV: the runtime turns it into exit status 2)
//	exit:N           all results, then exit status N
//	garbage          bytes that are not a length-delimited Result
//	truncate         one result, then half of the next
//	unknown-id       a result for an id not in the batch
//	dup-id           two results for the first element
//	flood            all results and 8 MiB to stderr
//	slow             one element per 20 ms, stops between elements on SIGTERM
//	hang             ignores SIGTERM and never finishes
//	grandchild       starts a grandchild that sleeps, prints its pid, exits 0
//	setsid-grandchild the same, the grandchild in a session of its own and
//	                 holding stdout and stderr open
//	env              the payload of each result is the environment
//	spin             burns CPU forever
//	rlimit           the payload of each result is its RLIMIT_NOFILE
//	stdout           writes to stdout as well as the results file
//	serve            a persistent worker: results for every batch, then done;
//	                 an element with id "hold" holds its batch until the
//	                 runner closes the requests pipe
//	common           the payload of each result is "common=" and Batch.common
//	serve-common     a worker whose results' payload is "common=" and the
//	                 Batch.common of their batch
//	serve-crash:N    a worker that dies after 3 results of its Nth batch
//	serve-setsid     a worker that starts a setsid grandchild (see
//	                 setsid-grandchild) and answers with its pid
//	serve-garbage    a worker that answers its first batch with garbage
//	serve-close      a worker that answers its first batch, then closes its
//	                 results pipe and lives on until the requests pipe closes
//	launch-leaks     not a binary but the starts of TestAFailedStartLeavesNothingBehind,
//	                 in the directory given as its argument
func fakeBinary(mode string, args []string) int {
	var batchPath, resultsPath string
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "--gridrun-batch":
			batchPath = args[i+1]
		case "--gridrun-results":
			resultsPath = args[i+1]
		}
	}
	name, arg, _ := strings.Cut(mode, ":")
	n, _ := strconv.Atoi(arg)
	if name == "launch-leaks" {
		return launchLeaks(args[0])
	}
	if strings.HasPrefix(name, "serve") {
		return fakeWorker(name, n)
	}
	if name == "sleep-forever" {
		time.Sleep(time.Hour)
		return 0
	}
	data, err := os.ReadFile(batchPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	batch := new(gridrunv1.Batch)
	if err := proto.Unmarshal(data, batch); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	out, err := os.OpenFile(resultsPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	write := func(r *gridrunv1.Result) {
		if _, err := protodelim.MarshalTo(out, r); err != nil {
			panic(err)
		}
	}
	ok := func(e *gridrunv1.Element) *gridrunv1.Result {
		return &gridrunv1.Result{Id: e.GetId(), Outcome: &gridrunv1.Result_Payload{Payload: append([]byte("out-"), e.GetPayload()...)}}
	}
	switch name {
	case "common":
		for _, e := range batch.GetElements() {
			write(&gridrunv1.Result{Id: e.GetId(), Outcome: &gridrunv1.Result_Payload{Payload: []byte("common=" + string(batch.GetCommon()))}})
		}
	case "ok", "exit", "flood", "stdout":
		for _, e := range batch.GetElements() {
			write(ok(e))
		}
		if name == "flood" {
			line := bytes.Repeat([]byte("x"), 1023)
			for range 8 << 10 {
				os.Stderr.Write(append(line, '\n'))
			}
		}
		if name == "stdout" {
			fmt.Println("chatter on stdout")
		}
		if name == "exit" {
			fmt.Fprintln(os.Stderr, "fatal: exiting on purpose")
			return n
		}
	case "fail-at":
		for i, e := range batch.GetElements() {
			if i == n {
				write(&gridrunv1.Result{Id: e.GetId(), Outcome: &gridrunv1.Result_Error{Error: &gridrunv1.ElementError{Message: "bad trade"}}})
				continue
			}
			write(ok(e))
		}
	case "die-at":
		for i, e := range batch.GetElements() {
			if i == n {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				time.Sleep(time.Hour)
			}
			write(ok(e))
		}
	case "garbage":
		out.Write([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
		time.Sleep(time.Hour) // the runner must kill us
	case "truncate":
		write(ok(batch.GetElements()[0]))
		b, _ := proto.Marshal(ok(batch.GetElements()[1]))
		out.Write([]byte{byte(len(b))})
		out.Write(b[:len(b)/2])
	case "unknown-id":
		write(ok(batch.GetElements()[0]))
		write(&gridrunv1.Result{Id: "nobody", Outcome: &gridrunv1.Result_Payload{}})
		time.Sleep(time.Hour)
	case "dup-id":
		write(ok(batch.GetElements()[0]))
		write(ok(batch.GetElements()[0]))
		time.Sleep(time.Hour)
	case "slow":
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		for _, e := range batch.GetElements() {
			select {
			case <-term:
				return 0
			default:
			}
			time.Sleep(20 * time.Millisecond)
			write(ok(e))
		}
	case "hang":
		signal.Ignore(syscall.SIGTERM)
		write(ok(batch.GetElements()[0]))
		time.Sleep(time.Hour)
	case "grandchild":
		cmd := exec.Command(os.Args[0])
		cmd.Env = []string{"FAKE_BINARY=sleep-forever"}
		if err := cmd.Start(); err != nil {
			panic(err)
		}
		fmt.Fprintf(os.Stderr, "grandchild %d\n", cmd.Process.Pid)
		for _, e := range batch.GetElements() {
			write(ok(e))
		}
	case "setsid-grandchild":
		fmt.Fprintf(os.Stderr, "grandchild %d\n", startSetsidGrandchild())
		for _, e := range batch.GetElements() {
			write(ok(e))
		}
	case "spin":
		for x := 0; ; x++ {
			_ = x * x
		}
	case "rlimit":
		var lim syscall.Rlimit
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
		for _, e := range batch.GetElements() {
			write(&gridrunv1.Result{Id: e.GetId(), Outcome: &gridrunv1.Result_Payload{Payload: []byte(strconv.FormatUint(lim.Cur, 10))}})
		}
	case "env":
		for _, e := range batch.GetElements() {
			write(&gridrunv1.Result{Id: e.GetId(), Outcome: &gridrunv1.Result_Payload{Payload: []byte(strings.Join(os.Environ(), "\n"))}})
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", mode)
		return 2
	}
	return 0
}

// startSetsidGrandchild starts a process that sleeps in a session of its
// own, holding this one's stdout and stderr, and returns its pid.
func startSetsidGrandchild() int {
	cmd := exec.Command(os.Args[0])
	cmd.Env = []string{"FAKE_BINARY=sleep-forever"}
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	return cmd.Process.Pid
}

// fakeWorker serves batches from fd 3, results to fd 4.
func fakeWorker(name string, crashAt int) int {
	req := bufio.NewReader(os.NewFile(3, "requests"))
	resp := os.NewFile(4, "results")
	for batchNo := 1; ; batchNo++ {
		size, err := binary.ReadUvarint(req)
		if err != nil {
			return 0 // the runner closed the pipe
		}
		data := make([]byte, size)
		if _, err := io.ReadFull(req, data); err != nil {
			return 2
		}
		batch := new(gridrunv1.Batch)
		if err := proto.Unmarshal(data, batch); err != nil {
			return 2
		}
		if name == "serve-garbage" {
			resp.Write([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
			time.Sleep(time.Hour)
		}
		payload := fmt.Sprint(os.Getpid())
		if name == "serve-common" {
			payload = "common=" + string(batch.GetCommon())
		}
		if name == "serve-setsid" {
			payload = fmt.Sprint(startSetsidGrandchild())
		}
		for i, e := range batch.GetElements() {
			if e.GetId() == "hold" {
				io.Copy(io.Discard, req)
				return 0
			}
			if name == "serve-crash" && batchNo == crashAt && i == 3 {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
			protodelim.MarshalTo(resp, &gridrunv1.Result{Id: e.GetId(), Outcome: &gridrunv1.Result_Payload{Payload: []byte(payload)}})
		}
		protodelim.MarshalTo(resp, &gridrunv1.Result{Done: true})
		if name == "serve-close" {
			resp.Close()
			io.Copy(io.Discard, req)
			return 0
		}
	}
}
