// The C++ SDK as a team outside this repository uses it: installed with
// make install into a prefix, found there by CMake (find_package) and by
// pkg-config, building the out-of-tree example native/examples/outoftree,
// whose binary the installed gridrun then runs.
package native_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gridrun/gridrun/internal/testbin"
)

// install runs make install into a new prefix and returns it.
func install(t *testing.T) string {
	t.Helper()
	prefix := t.TempDir()
	testbin.Make(t, "install", "PREFIX="+prefix)
	return prefix
}

// run runs a command in dir with env added, failing the test on a non-zero
// exit with its output.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestOutOfTreeProjectBuildsWithCMake(t *testing.T) {
	t.Parallel()
	cmake := testbin.Tool(t, "cmake")
	prefix := install(t)
	src := filepath.Join(testbin.Root(t), "native", "examples", "outoftree")
	build := t.TempDir()
	env := []string{"CMAKE_PREFIX_PATH=" + prefix}
	run(t, build, env, cmake, "-S", src, "-B", build)
	run(t, build, env, cmake, "--build", build)
	checkBondJob(t, prefix, filepath.Join(build, "bond"))
}

// The one-line build of docs/sdk.md: protoc, then g++ with the flags of
// gridrun.pc, which brings protobuf's.
func TestOutOfTreeProjectBuildsWithPkgConfig(t *testing.T) {
	t.Parallel()
	prefix := install(t)
	src := filepath.Join(testbin.Root(t), "native", "examples", "outoftree")
	dir := t.TempDir()
	env := []string{"PKG_CONFIG_PATH=" + filepath.Join(prefix, "lib", "pkgconfig")}
	flags := strings.Fields(run(t, dir, env, "pkg-config", "--cflags", "--libs", "gridrun"))
	run(t, dir, nil, "protoc", "-I", src, "--cpp_out="+dir, filepath.Join(src, "bond.proto"))
	args := append([]string{"-std=c++17", "-O2", "-I" + dir, filepath.Join(src, "bond.cc"),
		filepath.Join(dir, "bond.pb.cc")}, flags...)
	run(t, dir, nil, "g++", append(args, "-o", "bond")...)
	checkBondJob(t, prefix, filepath.Join(dir, "bond"))
}

// find_package(gridrun VERSION) takes the installed 1.x for 1.0 and no
// version, and refuses it for 2.0.
func TestCMakePackageChecksTheVersion(t *testing.T) {
	t.Parallel()
	cmake := testbin.Tool(t, "cmake")
	prefix := install(t)
	src := t.TempDir()
	project := `cmake_minimum_required(VERSION 3.16)
project(versions LANGUAGES CXX)
find_package(gridrun 2.0 QUIET)
if(gridrun_FOUND)
  message(FATAL_ERROR "gridrun 2.0 found: the installed SDK is 1.x")
endif()
find_package(gridrun 1.0 REQUIRED)
find_package(gridrun REQUIRED)
if(NOT TARGET gridrun::sdk OR NOT COMMAND gridrun_generate_cpp)
  message(FATAL_ERROR "no gridrun::sdk or gridrun_generate_cpp")
endif()
message(STATUS "gridrun ${gridrun_VERSION}")
`
	if err := os.WriteFile(filepath.Join(src, "CMakeLists.txt"), []byte(project), 0o644); err != nil {
		t.Fatal(err)
	}
	out := run(t, src, []string{"CMAKE_PREFIX_PATH=" + prefix}, cmake, "-S", src, "-B", filepath.Join(src, "build"))
	if !strings.Contains(out, "-- gridrun 1.") {
		t.Errorf("cmake found no gridrun 1.x:\n%s", out)
	}
}

type bond struct {
	ID        string  `json:"id"`
	Currency  string  `json:"currency"`
	Notional  float64 `json:"notional"`
	Coupon    float64 `json:"coupon"`
	Frequency int     `json:"frequency"`
	Maturity  float64 `json:"maturity"`
}

type value struct {
	PV        float64 `json:"pv"`
	Duration  float64 `json:"duration"`
	Cashflows int     `json:"cashflows"`
}

// bondValue is the reference: the bond's cash flows discounted one by one
// on the flat continuously compounded curve, the duration their
// time-weighted share of the PV.
func bondValue(b bond, rate float64) value {
	n := int(math.Round(b.Maturity * float64(b.Frequency)))
	var v value
	var weighted float64
	for i := 1; i <= n; i++ {
		t := float64(i) / float64(b.Frequency)
		flow := b.Notional * b.Coupon / float64(b.Frequency)
		if i == n {
			flow += b.Notional
		}
		v.PV += flow * math.Exp(-rate*t)
		weighted += t * flow * math.Exp(-rate*t)
	}
	v.Duration = weighted / v.PV
	v.Cashflows = n
	return v
}

// checkBondJob runs binary through the installed gridrun over bonds joined
// to curves, and checks each result against bondValue and each failure's
// dead letter.
func checkBondJob(t *testing.T, prefix, binary string) {
	t.Helper()
	dir := t.TempDir()
	curves := map[string]float64{"EUR": 0.025, "USD": 0.0425, "JPY": 0.001}
	var table strings.Builder
	w := csv.NewWriter(&table)
	w.Write([]string{"currency", "rate"})
	for c, r := range curves {
		w.Write([]string{c, fmt.Sprint(r)})
	}
	w.Flush()
	var bonds []bond
	currencies := []string{"EUR", "USD", "JPY"}
	for i := range 60 {
		freq := []int{1, 2, 4, 12}[i%4]
		bonds = append(bonds, bond{
			ID: fmt.Sprintf("B%03d", i), Currency: currencies[i%3], Notional: float64(1000 * (1 + i%7)),
			Coupon: 0.01 * float64(1+i%9), Frequency: freq, Maturity: float64(1+i%30) / float64(freq) * 2,
		})
	}
	// A currency with no curve, and a maturity that is not a whole number
	// of coupon periods: one dead letter each, the rest priced.
	bonds = append(bonds,
		bond{ID: "NOCURVE", Currency: "GBP", Notional: 100, Coupon: 0.05, Frequency: 1, Maturity: 3},
		bond{ID: "BROKEN", Currency: "EUR", Notional: 100, Coupon: 0.05, Frequency: 2, Maturity: 1.3})
	var input strings.Builder
	for _, b := range bonds {
		line, _ := json.Marshal(b)
		input.Write(append(line, '\n'))
	}
	for name, content := range map[string]string{"curves.csv": table.String(), "bonds.jsonl": input.String()} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "out")
	cache := t.TempDir()
	cmd := exec.Command(filepath.Join(prefix, "bin", "gridrun"), "run", "--binary", binary,
		"--input", "bonds.jsonl", "--join", "curves.csv", "--join-key", "{currency}", "--output", out)
	cmd.Dir = dir
	cmd.Env = testbin.Own(append(os.Environ(), "GRIDRUN_CACHE_DIR="+cache), cache)
	stdout, err := cmd.Output()
	// Exit 3: the job finished with dead letters, as it should.
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Fatalf("gridrun run: %v, want exit 3\n%s", err, stdout)
	}
	testbin.AssertNothingRuns(t, cache)

	byID := map[string]bond{}
	for _, b := range bonds {
		byID[b.ID] = b
	}
	seen := map[string]bool{}
	testbin.ScanLines(t, out, "results-*.jsonl", func(where string, line []byte) {
		var r struct {
			ID     string `json:"id"`
			Result value  `json:"result"`
		}
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		b, ok := byID[r.ID]
		if !ok || seen[r.ID] || b.ID == "NOCURVE" || b.ID == "BROKEN" {
			t.Errorf("%s: unexpected result %s", where, line)
			return
		}
		seen[r.ID] = true
		want := bondValue(b, curves[b.Currency])
		if !near(r.Result.PV, want.PV) || !near(r.Result.Duration, want.Duration) || r.Result.Cashflows != want.Cashflows {
			t.Errorf("%s: %s: got %+v, want %+v", where, r.ID, r.Result, want)
		}
	})
	if len(seen) != len(bonds)-2 {
		t.Errorf("%d results, want %d", len(seen), len(bonds)-2)
	}
	kinds := map[string]string{}
	testbin.ScanLines(t, out, "dead-letters-*.jsonl", func(where string, line []byte) {
		var d struct{ ID, Kind, Message string }
		if err := json.Unmarshal(line, &d); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		kinds[d.ID] = d.Kind + ": " + d.Message
	})
	if k := kinds["NOCURVE"]; !strings.HasPrefix(k, "missing_join") {
		t.Errorf("NOCURVE's dead letter: %q, want missing_join", k)
	}
	if k := kinds["BROKEN"]; !strings.HasPrefix(k, "element_error") || !strings.Contains(k, "whole number of coupon periods") {
		t.Errorf("BROKEN's dead letter: %q, want element_error naming the coupon periods", k)
	}
	if len(kinds) != 2 {
		t.Errorf("dead letters: %v, want NOCURVE and BROKEN", kinds)
	}
}

func near(got, want float64) bool { return math.Abs(got-want) <= 1e-12*math.Abs(want) }
