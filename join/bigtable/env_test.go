package bigtable_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	bt "cloud.google.com/go/bigtable"
	"cloud.google.com/go/bigtable/apiv2/bigtablepb"
	"cloud.google.com/go/bigtable/bttest"
	"go.uber.org/goleak"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/gridrun/gridrun/wrapper"
)

func TestMain(m *testing.M) {
	// The tests run their own emulators. One named by the environment
	// would be dialled by every client besides the connection a test
	// gives it, and that connection never closed.
	os.Unsetenv("BIGTABLE_EMULATOR_HOST")
	goleak.VerifyTestMain(m)
}

// emulator is an in-process Bigtable (bttest) whose ReadRows calls are
// recorded, and can be failed, at the gRPC layer: what the tests count and
// break is what the real client sends.
type emulator struct {
	addr string

	mu    sync.Mutex
	reads [][]string // the row keys and ranges of each ReadRows call received
	// fault, when set, decides the error of ReadRows call n (from 1).
	fault func(n int, keys []string) error
}

const readRowsMethod = "/google.bigtable.v2.Bigtable/ReadRows"

func startEmulator(t *testing.T) *emulator {
	t.Helper()
	e := &emulator{}
	srv, err := bttest.NewServer("127.0.0.1:0", grpc.ChainStreamInterceptor(e.intercept))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	e.addr = srv.Addr
	return e
}

// opts connect one client to the emulator, on a connection of its own:
// a Bigtable client closes the connection it was given when it closes.
func (e *emulator) opts(t *testing.T) []option.ClientOption {
	t.Helper()
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return []option.ClientOption{option.WithGRPCConn(conn)}
}

func (e *emulator) intercept(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if info.FullMethod != readRowsMethod {
		return handler(srv, ss)
	}
	return handler(srv, &hookedStream{ServerStream: ss, e: e})
}

// hookedStream sees the ReadRows request as the handler receives it.
type hookedStream struct {
	grpc.ServerStream
	e *emulator
}

func (h *hookedStream) RecvMsg(m any) error {
	if err := h.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	var keys []string
	rows := m.(*bigtablepb.ReadRowsRequest).GetRows()
	for _, k := range rows.GetRowKeys() {
		keys = append(keys, string(k))
	}
	// A range is recorded as [START,END), so that a test can tell it
	// from a key.
	for _, r := range rows.GetRowRanges() {
		keys = append(keys, fmt.Sprintf("[%s,%s)", r.GetStartKeyClosed(), r.GetEndKeyOpen()))
	}
	h.e.mu.Lock()
	h.e.reads = append(h.e.reads, keys)
	n, fault := len(h.e.reads), h.e.fault
	h.e.mu.Unlock()
	if fault != nil {
		return fault(n, keys)
	}
	return nil
}

func (e *emulator) readLog() [][]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.reads)
}

func (e *emulator) setFault(f func(n int, keys []string) error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fault = f
}

// cellAt is one cell to write.
type cellAt struct {
	row, family, qualifier, value string
	at                            time.Time
}

// write creates table with families and writes cells with the plain
// client, independently of the package under test.
func (e *emulator) write(t *testing.T, table string, families []string, cells ...cellAt) {
	t.Helper()
	ctx := t.Context()
	admin, err := bt.NewAdminClient(ctx, "p", "i", e.opts(t)...)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.CreateTable(ctx, table); err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if err := admin.CreateColumnFamily(ctx, table, f); err != nil {
			t.Fatal(err)
		}
	}
	c := e.client(t)
	tbl := c.Open(table)
	for _, cl := range cells {
		m := bt.NewMutation()
		m.Set(cl.family, cl.qualifier, bt.Time(cl.at), []byte(cl.value))
		if err := tbl.Apply(ctx, cl.row, m); err != nil {
			t.Fatal(err)
		}
	}
}

// client is a plain data client of the emulator.
func (e *emulator) client(t *testing.T) *bt.Client {
	t.Helper()
	c, err := bt.NewClientWithConfig(t.Context(), "p", "i", bt.ClientConfig{MetricsProvider: bt.NoopMetricsProvider{}}, e.opts(t)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// quoteDesc is the example pricer's Quote, the side message of the tests.
func quoteDesc(t *testing.T) protoreflect.MessageDescriptor {
	t.Helper()
	s, err := wrapper.SchemaFromProtoFiles(context.Background(), []string{filepath.Join(repoRoot, "native/examples/pricer/pricer.proto")}, nil, "pricer.Trade", "pricer.Price", "pricer.Quote")
	if err != nil {
		t.Fatal(err)
	}
	return s.Side
}

const repoRoot = "../.."
