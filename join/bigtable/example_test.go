package bigtable_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"cloud.google.com/go/bigtable/bttest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/join"
	"github.com/gridrun/gridrun/join/bigtable"
	"github.com/gridrun/gridrun/wrapper"
)

// Load a quotes file as the snapshot of one evening, then look up a
// batch's keys as of that evening. Against Cloud Bigtable or a standalone
// emulator (BIGTABLE_EMULATOR_HOST), the ClientOptions are not needed; here
// the emulator runs in the process.
func Example() {
	ctx := context.Background()
	srv, err := bttest.NewServer("127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	// Each client closes the connection it is given.
	connect := func() []option.ClientOption {
		conn, err := grpc.NewClient(srv.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			log.Fatal(err)
		}
		return []option.ClientOption{option.WithGRPCConn(conn)}
	}

	evening := time.Date(2026, 11, 20, 21, 0, 0, 0, time.UTC)
	key, _ := codec.ParseTemplate("{underlying}")
	rep, err := bigtable.Load(ctx, "bigtable://p/i/quotes", "../../testdata/quotes.csv", &bigtable.LoadOptions{
		Key: key, Family: "q", Timestamp: evening, ClientOptions: connect(),
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("loaded %d rows, %d rejected\n", rep.Rows, rep.Rejected)

	schema, err := wrapper.SchemaFromProtoFiles(ctx, []string{"../../native/examples/pricer/pricer.proto"}, nil,
		"pricer.Trade", "pricer.Price", "pricer.Quote")
	if err != nil {
		log.Fatal(err)
	}
	d, err := bigtable.Open(ctx, "bigtable://p/i/quotes", join.Spec{Side: schema.Side, AsOf: evening},
		&bigtable.Options{ClientOptions: connect()})
	if err != nil {
		log.Fatal(err)
	}
	tbl := join.NewTable(d, nil)
	defer tbl.Close()

	rows, err := tbl.Lookup(ctx, []string{"AAPL", "MSFT", "AAPL", "NOPE"})
	if err != nil {
		log.Fatal(err)
	}
	for _, k := range []string{"AAPL", "MSFT", "NOPE"} {
		row, ok := rows[k]
		if !ok {
			fmt.Printf("%s: no row\n", k)
			continue
		}
		q := dynamicpb.NewMessage(schema.Side)
		if err := proto.Unmarshal(row.Payload, q); err != nil {
			log.Fatal(err)
		}
		spot := q.Get(schema.Side.Fields().ByName("spot")).Float()
		vol := q.Get(schema.Side.Fields().ByName("vol")).Float()
		fmt.Printf("%s: spot %g vol %g\n", k, spot, vol)
	}
	st := tbl.Stats()
	fmt.Printf("%d read, %d rows, %d missing\n", st.Reads, st.Rows, st.Missing)
	// Output:
	// loaded 20 rows, 0 rejected
	// AAPL: spot 50.06 vol 0.3156
	// MSFT: spot 426.07 vol 0.5949
	// NOPE: no row
	// 1 read, 2 rows, 1 missing
}
