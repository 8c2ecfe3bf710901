package binstage_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/gridrun/gridrun/binstage"
)

// A version published to a local directory, then staged and run; a
// gs://BUCKET/PATH/NAME@VERSION works the same way.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "binstage-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "pricer")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho priced\n"), 0o755); err != nil {
		log.Fatal(err)
	}
	uri := "file://" + filepath.Join(dir, "published", "pricer") + "@1.0.0"

	m, err := binstage.Push(ctx, bin, uri, &binstage.PushOptions{Revision: "3f2a9c1"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("published", m.Version, "sha256", m.SHA256)

	s, err := binstage.Stage(ctx, uri, &binstage.Options{CacheDir: filepath.Join(dir, "cache"), SHA256: m.SHA256})
	if err != nil {
		log.Fatal(err)
	}
	out, err := exec.Command(s.Path).Output()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("staged %s as %s; it says %s", s.Version, filepath.Base(s.Path), out)
	// Output:
	// published 1.0.0 sha256 61c7ae546d52925f5e88b0585ebfdd87ac95d7af7fda958bb1fa17a9b44323f5
	// staged 1.0.0 as 61c7ae546d52925f5e88b0585ebfdd87ac95d7af7fda958bb1fa17a9b44323f5; it says priced
}
