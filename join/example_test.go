package join_test

import (
	"context"
	"fmt"
	"log"

	"github.com/gridrun/gridrun/codec"
	"github.com/gridrun/gridrun/join"
	"github.com/gridrun/gridrun/wrapper"
)

// Look up the quotes of two underlyings in the demo's table, as the engine
// does for each batch: one read for the keys not yet cached.
func ExampleOpen() {
	ctx := context.Background()
	schema, err := wrapper.SchemaFromProtoFiles(ctx, []string{"../native/examples/pricer/pricer.proto"}, nil,
		"pricer.Trade", "pricer.Price", "pricer.Quote")
	if err != nil {
		log.Fatal(err)
	}
	key, err := codec.ParseTemplate("{underlying}")
	if err != nil {
		log.Fatal(err)
	}
	table, err := join.Open(ctx, "../testdata/quotes.csv", join.Spec{Side: schema.Side, Key: key}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer table.Close()

	rows, err := table.Lookup(ctx, []string{"AAPL", "NOPE", "AAPL"})
	if err != nil {
		log.Fatal(err)
	}
	_, aapl := rows["AAPL"]
	_, nope := rows["NOPE"]
	st := table.Stats()
	fmt.Println(aapl, nope, st.Reads, st.Rows, st.Missing)
	// Output: true false 1 1 1
}
