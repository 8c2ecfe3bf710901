// Package fakegcs runs fake-gcs-server in process for tests, reached over
// loopback TCP through the real storage client, so that child processes
// can use it too (through STORAGE_EMULATOR_HOST). In front of the fake, a
// handler counts downloads and can fail requests, for tests of caching
// and retries.
package fakegcs

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"cloud.google.com/go/storage"
	"github.com/fsouza/fake-gcs-server/fakestorage"
	"google.golang.org/api/option"
)

// Server is a fake Cloud Storage endpoint.
type Server struct {
	fake *fakestorage.Server
	http *httptest.Server

	mu        sync.Mutex
	downloads map[string]int // "bucket/object" -> media GETs answered
	buckets   map[string]int // bucket -> reads of its metadata
	failNext  int
}

// Start starts a server holding the given empty buckets; it stops when
// the test ends.
func Start(t testing.TB, buckets ...string) *Server {
	t.Helper()
	fake, err := fakestorage.NewServerWithOptions(fakestorage.Options{NoListener: true})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{fake: fake, downloads: map[string]int{}, buckets: map[string]int{}}
	s.http = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		s.http.Close()
		fake.Stop()
	})
	for _, b := range buckets {
		fake.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: b})
	}
	return s
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	fail := s.failNext > 0
	if fail {
		s.failNext--
	}
	if obj, ok := mediaObject(r); ok && !fail {
		s.downloads[obj]++
	}
	if b, ok := strings.CutPrefix(r.URL.Path, "/storage/v1/b/"); ok && r.Method == http.MethodGet && !strings.Contains(b, "/") {
		s.buckets[b]++
	}
	s.mu.Unlock()
	if fail {
		http.Error(w, `{"error":{"code":503,"message":"injected"}}`, http.StatusServiceUnavailable)
		return
	}
	s.fake.HTTPHandler().ServeHTTP(w, r)
}

// mediaObject returns "bucket/object" when r downloads an object's bytes
// through the JSON API.
func mediaObject(r *http.Request) (string, bool) {
	if r.Method != http.MethodGet || r.URL.Query().Get("alt") != "media" {
		return "", false
	}
	p := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/download"), "/storage/v1/b/")
	bucket, obj, ok := strings.Cut(p, "/o/")
	return bucket + "/" + obj, ok
}

// Host is the server's host:port, the value for STORAGE_EMULATOR_HOST.
func (s *Server) Host() string { return strings.TrimPrefix(s.http.URL, "http://") }

// Client returns a storage client of the server, closed when the test
// ends. It reads through the JSON API: the client's default XML reads go
// to a host the fake does not serve.
func (s *Server) Client(t testing.TB) *storage.Client {
	t.Helper()
	c, err := storage.NewClient(context.Background(),
		option.WithEndpoint(s.http.URL+"/storage/v1/"),
		option.WithoutAuthentication(),
		storage.WithJSONReads())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Downloads is how many times the bytes of bucket/object were served.
func (s *Server) Downloads(bucket, object string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.downloads[bucket+"/"+object]
}

// FailNext answers the next n requests with 503 Service Unavailable.
func (s *Server) FailNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = n
}

// Put writes an object directly, replacing any, as an operator with
// write access could (preconditions are the client's to ask for).
func (s *Server) Put(bucket, object string, content []byte) {
	s.fake.CreateObject(fakestorage.Object{
		ObjectAttrs: fakestorage.ObjectAttrs{BucketName: bucket, Name: object},
		Content:     content,
	})
}

// Get returns an object's bytes, or nil.
func (s *Server) Get(bucket, object string) []byte {
	o, err := s.fake.GetObject(bucket, object)
	if err != nil {
		return nil
	}
	return o.Content
}

// BucketReads is the number of reads of a bucket's metadata (its
// attributes, such as its soft-delete policy).
func (s *Server) BucketReads(bucket string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buckets[bucket]
}
