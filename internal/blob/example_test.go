package blob_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"

	"github.com/gridrun/gridrun/internal/blob"
)

func Example() {
	dir, err := os.MkdirTemp("", "blob-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	// gs://BUCKET/PREFIX opens a bucket in Cloud Storage the same way.
	b, err := blob.OpenBucket(ctx, "file://"+dir, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	once := &blob.WriteOptions{IfNotExist: true}
	manifest := func(w io.Writer) error {
		_, err := fmt.Fprintln(w, `{"version": "1.0.0"}`)
		return err
	}
	if err := b.Write(ctx, "pricer/1.0.0/manifest.json", manifest, once); err != nil {
		log.Fatal(err)
	}
	err = b.Write(ctx, "pricer/1.0.0/manifest.json", manifest, once)
	fmt.Println("second write refused:", errors.Is(err, fs.ErrExist))

	keys, err := b.List(ctx, "pricer/")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(keys)
	// Output:
	// second write refused: true
	// [pricer/1.0.0/manifest.json]
}
