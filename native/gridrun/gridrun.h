// gridrun.h: the gridrun C++ SDK, header-only.
//
// Turns a function (element, side rows) -> result into a binary that speaks
// the gridrun subprocess protocol (proto/gridrun/v1/gridrun.proto):
//
//   #include "gridrun/gridrun.h"
//   #include "pricer.pb.h"
//
//   pricer::Price Price(const pricer::Trade& t,
//                       const gridrun::Side<pricer::Quote>& quotes) { ... }
//
//   int main(int argc, char** argv) {
//     return gridrun::Serve<pricer::Trade, pricer::Price, pricer::Quote>(
//         argc, argv, Price, {"pricer", "1.4.2"});
//   }
//
// Installed (make install), build against the system's protobuf with
// find_package(gridrun) in CMake (target gridrun::sdk) or with g++
// -std=c++17 ... $(pkg-config --cflags --libs gridrun); see docs/sdk.md. The
// SDK reads and writes the protocol's few messages with protobuf's
// wire-format primitives rather than generated code, so it stays one header
// and links against any libprotobuf 3.x without a generation step for the
// protocol itself; the field numbers below are those of
// gridrun.proto, and the runner's tests exercise every one of them.
//
// What Serve does for you:
//   * parses --gridrun-batch FILE --gridrun-results FILE and keeps the rest of
//     the command line for you (Context::args);
//   * reads the batch and calls your function once per element, with the
//     element's side rows parsed once per batch;
//   * turns an exception thrown for one element into that element's error,
//     and goes on with the batch;
//   * writes each result to the results file as soon as it is produced, so a
//     crash costs only the element it happened on;
//   * on SIGTERM, finishes the current element, flushes and exits 0;
//   * answers --gridrun-describe FILE with the message types it consumes and
//     produces, so the runner needs no schema flags;
//   * answers --gridrun-lines with a line mode for tools that pipe JSON
//     (one {"id", "element", "side"} object per line in, one {"id", "result"}
//     or {"id", "error"} per line out), e.g. GNU parallel --pipe;
//   * with an init hook (the Serve that takes one), decodes the job's common
//     data (gridrun run --common: curves, calendars, model parameters) and
//     hands it to the hook once per process, before the first element.
#ifndef GRIDRUN_GRIDRUN_H_
#define GRIDRUN_GRIDRUN_H_

// The SDK's version, that of the installed package (gridrun.pc,
// gridrunConfigVersion.cmake); make install reads it from here. Its major
// follows the protocol's: gridrun.v1.
#define GRIDRUN_SDK_VERSION "1.0.0"

#include <cxxabi.h>
#include <fcntl.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/type_resolver.h>
#include <google/protobuf/util/type_resolver_util.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

namespace gridrun {

// Info names the binary in the job manifest.
struct Info {
  std::string name;
  std::string version;
};

// NoSide is the side-row type of binaries that join no market data.
struct NoSide {};

// NoScenario is the scenario type of binaries that take no scenarios.
struct NoScenario {};

namespace internal {

using google::protobuf::io::CodedInputStream;
using google::protobuf::io::CodedOutputStream;
using google::protobuf::io::StringOutputStream;

// Field numbers and wire types of gridrun.proto.
enum : uint32_t {
  kVarint = 0,
  kLen = 2,
  // Batch
  kBatchJobID = 1,
  kBatchBatchID = 2,
  kBatchAttempt = 3,
  kBatchMaxAttempts = 4,
  kBatchElements = 5,
  kBatchSideRows = 6,
  kBatchScenarios = 7,
  kBatchCommon = 8,
  // Element
  kElementID = 1,
  kElementPayload = 2,
  kElementSideRows = 3,
  kElementSeed = 4,
  kElementScenario = 5,
  // Scenario
  kScenarioID = 1,
  kScenarioPayload = 2,
  // SideRow
  kSideRowKey = 1,
  kSideRowPayload = 2,
  // Result
  kResultID = 1,
  kResultPayload = 2,
  kResultError = 3,
  kResultDurationNanos = 4,
  kResultStopping = 5,
  kResultStarted = 6,
  kResultDone = 7,
  kResultScenario = 8,
  // ElementError
  kErrorMessage = 1,
  kErrorType = 2,
  // Description
  kDescProtocol = 1,
  kDescInputType = 2,
  kDescResultType = 3,
  kDescSideType = 4,
  kDescFiles = 5,
  kDescName = 6,
  kDescVersion = 7,
  kDescStreamsResults = 8,
  kDescHonorsSigterm = 9,
  kDescServes = 10,
  kDescScenarioType = 11,
  kDescCommonType = 12,
};

constexpr uint32_t Tag(uint32_t field, uint32_t wire) { return field << 3 | wire; }

struct RawElement {
  std::string_view id;
  std::string_view payload;
  std::vector<uint32_t> side_rows;
  uint64_t seed = 0;
  uint32_t scenario = 0;
};

struct RawScenario {
  std::string_view id;
  std::string_view payload;
};

struct RawSideRow {
  std::string_view key;
  std::string_view payload;
};

struct RawBatch {
  std::string data;  // the file's bytes; the views below point into it
  std::string_view job_id, batch_id;
  uint32_t attempt = 0, max_attempts = 0;
  std::vector<RawElement> elements;
  std::vector<RawSideRow> side_rows;
  std::vector<RawScenario> scenarios;
  std::string_view common;  // the job's common data; set on a process's first batch only
};

[[noreturn]] inline void Fail(const std::string& msg) {
  std::cerr << "gridrun: " << msg << std::endl;
  std::exit(2);
}

inline bool ReadView(CodedInputStream& in, const std::string& data, std::string_view* out) {
  uint32_t len;
  if (!in.ReadVarint32(&len)) return false;
  int pos = in.CurrentPosition();
  if (static_cast<size_t>(pos) + len > data.size() || !in.Skip(static_cast<int>(len))) return false;
  *out = std::string_view(data.data() + pos, len);
  return true;
}

// Unknown fields are skipped, so a newer runner can add fields.
inline bool SkipUnknown(CodedInputStream& in, uint32_t tag) {
  return google::protobuf::internal::WireFormatLite::SkipField(&in, tag);
}

inline bool ParseElement(CodedInputStream& in, const std::string& data, RawElement* e) {
  uint32_t len;
  if (!in.ReadVarint32(&len)) return false;
  auto limit = in.PushLimit(static_cast<int>(len));
  while (uint32_t tag = in.ReadTag()) {
    switch (tag) {
      case Tag(kElementID, kLen):
        if (!ReadView(in, data, &e->id)) return false;
        break;
      case Tag(kElementPayload, kLen):
        if (!ReadView(in, data, &e->payload)) return false;
        break;
      case Tag(kElementSideRows, kLen): {  // packed
        uint32_t n;
        if (!in.ReadVarint32(&n)) return false;
        auto packed = in.PushLimit(static_cast<int>(n));
        while (in.BytesUntilLimit() > 0) {
          uint32_t v;
          if (!in.ReadVarint32(&v)) return false;
          e->side_rows.push_back(v);
        }
        in.PopLimit(packed);
        break;
      }
      case Tag(kElementSideRows, kVarint): {  // unpacked, also valid proto3
        uint32_t v;
        if (!in.ReadVarint32(&v)) return false;
        e->side_rows.push_back(v);
        break;
      }
      // Scenarios: the element's scenario (an index into Batch.scenarios)
      // and its deterministic seed.
      case Tag(kElementSeed, kVarint):
        if (!in.ReadVarint64(&e->seed)) return false;
        break;
      case Tag(kElementScenario, kVarint):
        if (!in.ReadVarint32(&e->scenario)) return false;
        break;
      default:
        if (!SkipUnknown(in, tag)) return false;
    }
  }
  if (!in.ConsumedEntireMessage()) return false;
  in.PopLimit(limit);
  return true;
}

inline bool ParseSideRow(CodedInputStream& in, const std::string& data, RawSideRow* r) {
  uint32_t len;
  if (!in.ReadVarint32(&len)) return false;
  auto limit = in.PushLimit(static_cast<int>(len));
  while (uint32_t tag = in.ReadTag()) {
    switch (tag) {
      case Tag(kSideRowKey, kLen):
        if (!ReadView(in, data, &r->key)) return false;
        break;
      case Tag(kSideRowPayload, kLen):
        if (!ReadView(in, data, &r->payload)) return false;
        break;
      default:
        if (!SkipUnknown(in, tag)) return false;
    }
  }
  if (!in.ConsumedEntireMessage()) return false;
  in.PopLimit(limit);
  return true;
}

// ParseScenario reads one Batch.scenarios entry.
inline bool ParseScenario(CodedInputStream& in, const std::string& data, RawScenario* r) {
  uint32_t len;
  if (!in.ReadVarint32(&len)) return false;
  auto limit = in.PushLimit(static_cast<int>(len));
  while (uint32_t tag = in.ReadTag()) {
    switch (tag) {
      case Tag(kScenarioID, kLen):
        if (!ReadView(in, data, &r->id)) return false;
        break;
      case Tag(kScenarioPayload, kLen):
        if (!ReadView(in, data, &r->payload)) return false;
        break;
      default:
        if (!SkipUnknown(in, tag)) return false;
    }
  }
  if (!in.ConsumedEntireMessage()) return false;
  in.PopLimit(limit);
  return true;
}

inline bool ParseBatch(RawBatch* b) {
  const std::string& data = b->data;
  CodedInputStream in(reinterpret_cast<const uint8_t*>(data.data()), static_cast<int>(data.size()));
  in.SetTotalBytesLimit(INT32_MAX);
  while (uint32_t tag = in.ReadTag()) {
    switch (tag) {
      case Tag(kBatchJobID, kLen):
        if (!ReadView(in, data, &b->job_id)) return false;
        break;
      case Tag(kBatchBatchID, kLen):
        if (!ReadView(in, data, &b->batch_id)) return false;
        break;
      case Tag(kBatchAttempt, kVarint):
        if (!in.ReadVarint32(&b->attempt)) return false;
        break;
      case Tag(kBatchMaxAttempts, kVarint):
        if (!in.ReadVarint32(&b->max_attempts)) return false;
        break;
      case Tag(kBatchElements, kLen):
        b->elements.emplace_back();
        if (!ParseElement(in, data, &b->elements.back())) return false;
        break;
      case Tag(kBatchSideRows, kLen):
        b->side_rows.emplace_back();
        if (!ParseSideRow(in, data, &b->side_rows.back())) return false;
        break;
      case Tag(kBatchScenarios, kLen):
        b->scenarios.emplace_back();
        if (!ParseScenario(in, data, &b->scenarios.back())) return false;
        break;
      case Tag(kBatchCommon, kLen):
        if (!ReadView(in, data, &b->common)) return false;
        break;
      default:
        if (!SkipUnknown(in, tag)) return false;
    }
  }
  return in.ConsumedEntireMessage();
}

inline std::string ReadFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) Fail("cannot open " + path + ": " + std::strerror(errno));
  std::string data;
  struct stat st;
  if (::fstat(fd, &st) == 0 && st.st_size > 0) data.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) Fail("cannot read " + path + ": " + std::strerror(errno));
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return data;
}

inline void WriteAll(int fd, const std::string& bytes, const char* what) {
  const char* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) Fail(std::string("cannot write ") + what + ": " + std::strerror(errno));
    p += n;
    left -= static_cast<size_t>(n);
  }
}

inline void PutString(CodedOutputStream& out, uint32_t field, std::string_view s) {
  out.WriteTag(Tag(field, kLen));
  out.WriteVarint32(static_cast<uint32_t>(s.size()));
  out.WriteRaw(s.data(), static_cast<int>(s.size()));
}

inline void PutBool(CodedOutputStream& out, uint32_t field, bool v) {
  out.WriteTag(Tag(field, kVarint));
  out.WriteVarint32(v ? 1 : 0);
}

// DelimitedResult encodes one Result with its varint length prefix.
// scenario echoes Element.scenario.
inline std::string DelimitedResult(std::string_view id, const std::string* payload,
                                   std::string_view err_msg, std::string_view err_type, uint64_t nanos,
                                   uint32_t scenario = 0) {
  std::string body;
  {
    StringOutputStream sink(&body);
    CodedOutputStream out(&sink);
    PutString(out, kResultID, id);
    if (payload != nullptr) {
      PutString(out, kResultPayload, *payload);
    } else {
      std::string e;
      {
        StringOutputStream esink(&e);
        CodedOutputStream eout(&esink);
        PutString(eout, kErrorMessage, err_msg);
        if (!err_type.empty()) PutString(eout, kErrorType, err_type);
      }
      PutString(out, kResultError, e);
    }
    if (nanos > 0) {
      out.WriteTag(Tag(kResultDurationNanos, kVarint));
      out.WriteVarint64(nanos);
    }
    if (scenario > 0) {
      out.WriteTag(Tag(kResultScenario, kVarint));
      out.WriteVarint32(scenario);
    }
  }
  std::string framed;
  {
    StringOutputStream sink(&framed);
    CodedOutputStream out(&sink);
    out.WriteVarint32(static_cast<uint32_t>(body.size()));
    out.WriteRaw(body.data(), static_cast<int>(body.size()));
  }
  return framed;
}

inline std::string JsonQuote(std::string_view s) {
  std::string q = "\"";
  for (char c : s) {
    switch (c) {
      case '"': q += "\\\""; break;
      case '\\': q += "\\\\"; break;
      case '\n': q += "\\n"; break;
      case '\t': q += "\\t"; break;
      case '\r': q += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          q += buf;
        } else {
          q += c;
        }
    }
  }
  return q + "\"";
}

inline std::string Demangle(const char* name) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> d(abi::__cxa_demangle(name, nullptr, nullptr, &status), std::free);
  return status == 0 && d ? std::string(d.get()) : std::string(name);
}

// Stop is how SIGTERM reaches the loop over a batch. A watcher thread takes
// the signal (it is blocked everywhere else), and under the same lock as the
// loop's "may I begin the next element?" it sets the stop flag and writes an
// acknowledgement (Result.stopping) saying how many elements were begun: the
// runner can then hand the others to other calls at once, and none is ever
// computed twice. Results are written under the lock too, so the
// acknowledgement never lands inside one.
struct Stop {
  std::mutex mu;
  bool requested = false;  // guarded by mu
  bool in_batch = false;   // guarded by mu: a batch is being run
  uint32_t started = 0;    // guarded by mu
  int fd = -1;
};

inline Stop& StopState() {
  static Stop s;
  return s;
}

// OnSigterm covers threads that existed before the signal was blocked (a
// library's own, started by a static initializer): there the signal only
// sets the flag, and the runner waits for the binary to exit.
inline volatile std::sig_atomic_t sigterm_seen = 0;
inline void OnSigterm(int) { sigterm_seen = 1; }

inline std::string StoppingRecord(uint32_t started) {
  std::string body;
  {
    StringOutputStream sink(&body);
    CodedOutputStream out(&sink);
    out.WriteTag(Tag(kResultStopping, kVarint));
    out.WriteVarint32(1);
    out.WriteTag(Tag(kResultStarted, kVarint));
    out.WriteVarint32(started);
  }
  std::string framed;
  {
    StringOutputStream sink(&framed);
    CodedOutputStream out(&sink);
    out.WriteVarint32(static_cast<uint32_t>(body.size()));
    out.WriteRaw(body.data(), static_cast<int>(body.size()));
  }
  return framed;
}

// ForkedChild runs in every process the binary forks (pthread_atfork). The
// watcher thread is not copied by fork, so a SIGTERM blocked there would
// never be taken, and the runner's plain kill would do nothing: the child
// gets SIGTERM's default handler and an unblocked mask back. Only
// async-signal-safe calls here. posix_spawn, vfork and system() do not run
// fork handlers; a binary that starts helpers that way should unblock
// SIGTERM in them (posix_spawnattr_setsigmask).
inline void ForkedChild() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGTERM, &sa, nullptr);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

// WatchSigterm blocks SIGTERM in this thread (and so in every thread it
// starts later) and starts the watcher. fd is the results file. Processes
// forked later get the default back (ForkedChild).
inline void WatchSigterm(int fd) {
  static const int atfork = ::pthread_atfork(nullptr, nullptr, ForkedChild);
  (void)atfork;
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = OnSigterm;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  ::sigaction(SIGTERM, &sa, nullptr);
  StopState().fd = fd;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set] {
    int sig = 0;
    if (::sigwait(&set, &sig) != 0) return;
    Stop& s = StopState();
    std::lock_guard<std::mutex> lock(s.mu);
    s.requested = true;
    // Outside a batch there is nothing to finish or to say: a worker
    // between batches, a call before its first element or after its last.
    if (!s.in_batch) std::_Exit(0);
    WriteAll(s.fd, StoppingRecord(s.started), "results");
  }).detach();
}

// Begin asks whether element number n (from 0) may begin, and if so
// records that it has.
inline bool Begin(uint32_t n) {
  Stop& s = StopState();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.requested || sigterm_seen) return false;
  s.started = n + 1;
  return true;
}

// WriteResult writes one framed result under the stop lock.
inline void WriteResult(int fd, const std::string& framed, const char* what) {
  std::lock_guard<std::mutex> lock(StopState().mu);
  WriteAll(fd, framed, what);
}

// BeginBatch and EndBatch bracket the run of a batch: a SIGTERM outside
// one has nothing to acknowledge. EndBatch reports whether the batch was
// stopped.
inline void BeginBatch() {
  std::lock_guard<std::mutex> lock(StopState().mu);
  StopState().in_batch = true;
  StopState().started = 0;
}

inline bool EndBatch() {
  std::lock_guard<std::mutex> lock(StopState().mu);
  StopState().in_batch = false;
  return StopState().requested || sigterm_seen;
}

// DoneRecord ends a batch in serve mode.
inline std::string DoneRecord() {
  std::string framed;
  StringOutputStream sink(&framed);
  CodedOutputStream out(&sink);
  out.WriteVarint32(2);
  out.WriteTag(Tag(kResultDone, kVarint));
  out.WriteVarint32(1);
  return framed;
}

// ReadFrame reads one varint-length-delimited message from fd into *data;
// false at a clean end of the stream.
inline bool ReadFrame(int fd, std::string* data) {
  uint64_t len = 0;
  for (int shift = 0;; shift += 7) {
    unsigned char c;
    ssize_t n;
    do {
      n = ::read(fd, &c, 1);
    } while (n < 0 && errno == EINTR);
    if (n == 0 && shift == 0) return false;
    if (n != 1 || shift > 63) Fail("serve: bad frame length on the request pipe");
    len |= static_cast<uint64_t>(c & 0x7f) << shift;
    if ((c & 0x80) == 0) break;
  }
  data->resize(len);
  size_t got = 0;
  while (got < len) {
    ssize_t n = ::read(fd, data->data() + got, len - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) Fail("serve: truncated batch on the request pipe");
    got += static_cast<size_t>(n);
  }
  return true;
}

// AddFile appends f and, first, everything it imports, once each, so the set
// can be loaded into a descriptor pool in order.
inline void AddFile(const google::protobuf::FileDescriptor* f, std::set<std::string>* seen,
                    google::protobuf::FileDescriptorSet* set) {
  if (!seen->insert(f->name()).second) return;
  for (int i = 0; i < f->dependency_count(); i++) AddFile(f->dependency(i), seen, set);
  f->CopyTo(set->add_file());
}

// Describe writes the binary's Description; common is the message of its
// common data, or null when it takes none.
template <class In, class Out, class Row, class Scen = NoScenario>
std::string Describe(const Info& info, const google::protobuf::Descriptor* common = nullptr) {
  google::protobuf::FileDescriptorSet files;
  std::set<std::string> seen;
  AddFile(In::descriptor()->file(), &seen, &files);
  AddFile(Out::descriptor()->file(), &seen, &files);
  if (common != nullptr) AddFile(common->file(), &seen, &files);
  std::string side_type;
  if constexpr (!std::is_same_v<Row, NoSide>) {
    AddFile(Row::descriptor()->file(), &seen, &files);
    side_type = Row::descriptor()->full_name();
  }
  std::string scenario_type;
  if constexpr (!std::is_same_v<Scen, NoScenario>) {
    AddFile(Scen::descriptor()->file(), &seen, &files);
    scenario_type = Scen::descriptor()->full_name();
  }
  std::string body;
  {
    StringOutputStream sink(&body);
    CodedOutputStream out(&sink);
    PutString(out, kDescProtocol, "gridrun.v1");
    PutString(out, kDescInputType, In::descriptor()->full_name());
    PutString(out, kDescResultType, Out::descriptor()->full_name());
    if (!side_type.empty()) PutString(out, kDescSideType, side_type);
    PutString(out, kDescFiles, files.SerializeAsString());
    if (!info.name.empty()) PutString(out, kDescName, info.name);
    if (!info.version.empty()) PutString(out, kDescVersion, info.version);
    PutBool(out, kDescStreamsResults, true);
    PutBool(out, kDescHonorsSigterm, true);
    PutBool(out, kDescServes, true);
    if (!scenario_type.empty()) PutString(out, kDescScenarioType, scenario_type);
    if (common != nullptr) PutString(out, kDescCommonType, common->full_name());
  }
  return body;
}

struct LineParts {
  std::string_view id;
  std::string_view element;
  std::vector<std::string_view> side;
};

// LineCodec converts the JSON lines of line mode with protobuf's own JSON
// mapping, through two message types it defines at start-up around the
// binary's: Line {string id = 1; In element = 2; repeated Row side = 3;}
// and Output {string id = 1; Out result = 2; string error = 3;}. A line is
// parsed once into wire format, whose fields hold the element and rows
// already serialized.
class LineCodec {
 public:
  explicit LineCodec(const std::string& description) {
    google::protobuf::FileDescriptorSet set;
    std::string input_type, result_type, side_type;
    ParseDescription(description, &set, &input_type, &result_type, &side_type);
    google::protobuf::FileDescriptorProto lines;
    lines.set_name("gridrun/lines.proto");
    lines.set_package("gridrun.lines");
    lines.set_syntax("proto3");
    for (const auto& f : set.file()) {
      if (pool_.BuildFile(f) == nullptr) Fail("line mode: cannot load " + f.name());
      lines.add_dependency(f.name());
    }
    using FDP = google::protobuf::FieldDescriptorProto;
    auto add = [](google::protobuf::DescriptorProto* m, const char* name, int number, FDP::Type type,
                  const std::string& type_name, bool repeated) {
      FDP* f = m->add_field();
      f->set_name(name);
      f->set_json_name(name);
      f->set_number(number);
      f->set_type(type);
      f->set_label(repeated ? FDP::LABEL_REPEATED : FDP::LABEL_OPTIONAL);
      if (!type_name.empty()) f->set_type_name("." + type_name);
    };
    google::protobuf::DescriptorProto* line = lines.add_message_type();
    line->set_name("Line");
    add(line, "id", 1, FDP::TYPE_STRING, "", false);
    add(line, "element", 2, FDP::TYPE_MESSAGE, input_type, false);
    if (!side_type.empty()) add(line, "side", 3, FDP::TYPE_MESSAGE, side_type, true);
    google::protobuf::DescriptorProto* out = lines.add_message_type();
    out->set_name("Output");
    add(out, "id", 1, FDP::TYPE_STRING, "", false);
    add(out, "result", 2, FDP::TYPE_MESSAGE, result_type, false);
    add(out, "error", 3, FDP::TYPE_STRING, "", false);
    if (pool_.BuildFile(lines) == nullptr) Fail("line mode: cannot define the line types");
    resolver_.reset(google::protobuf::util::NewTypeResolverForDescriptorPool(kPrefix, &pool_));
    print_.preserve_proto_field_names = true;
  }

  // Parse turns a JSON line into wire format in *wire, whose fields parts
  // points into.
  bool Parse(const std::string& json, std::string* wire, LineParts* parts, std::string* err) {
    wire->clear();
    auto st = google::protobuf::util::JsonToBinaryString(resolver_.get(), std::string(kPrefix) + "/gridrun.lines.Line",
                                                         json, wire, parse_);
    if (!st.ok()) {
      *err = "bad line: " + std::string(st.message());
      return false;
    }
    CodedInputStream in(reinterpret_cast<const uint8_t*>(wire->data()), static_cast<int>(wire->size()));
    while (uint32_t tag = in.ReadTag()) {
      std::string_view* dst = nullptr;
      std::string_view side;
      switch (tag) {
        case Tag(1, kLen): dst = &parts->id; break;
        case Tag(2, kLen): dst = &parts->element; break;
        case Tag(3, kLen): dst = &side; break;
        default:
          if (!SkipUnknown(in, tag)) return false;
          continue;
      }
      if (!ReadView(in, *wire, dst)) return false;
      if (dst == &side) parts->side.push_back(side);
    }
    return true;
  }

  // Render writes {"id", "result"} or {"id", "error"} as JSON.
  bool Render(std::string_view id, const std::string* payload, std::string_view err, std::string* json) {
    std::string wire;
    {
      StringOutputStream sink(&wire);
      CodedOutputStream out(&sink);
      PutString(out, 1, id);
      if (payload != nullptr) {
        PutString(out, 2, *payload);
      } else {
        PutString(out, 3, err);
      }
    }
    json->clear();
    return google::protobuf::util::BinaryToJsonString(resolver_.get(), std::string(kPrefix) + "/gridrun.lines.Output",
                                                      wire, json, print_)
        .ok();
  }

 private:
  static constexpr const char* kPrefix = "type.googleapis.com";

  static void ParseDescription(const std::string& d, google::protobuf::FileDescriptorSet* set, std::string* input,
                               std::string* result, std::string* side) {
    CodedInputStream in(reinterpret_cast<const uint8_t*>(d.data()), static_cast<int>(d.size()));
    std::string_view v;
    while (uint32_t tag = in.ReadTag()) {
      if ((tag & 7) != kLen) {
        SkipUnknown(in, tag);
        continue;
      }
      ReadView(in, d, &v);
      switch (tag >> 3) {
        case kDescInputType: *input = std::string(v); break;
        case kDescResultType: *result = std::string(v); break;
        case kDescSideType: *side = std::string(v); break;
        case kDescFiles: set->ParseFromArray(v.data(), static_cast<int>(v.size())); break;
      }
    }
  }

  google::protobuf::DescriptorPool pool_;
  std::unique_ptr<google::protobuf::util::TypeResolver> resolver_;
  google::protobuf::util::JsonParseOptions parse_;
  google::protobuf::util::JsonPrintOptions print_;
};

}  // namespace internal

// Context tells your function which batch it is working on.
class Context {
 public:
  const std::string& job_id() const { return job_id_; }
  const std::string& batch_id() const { return batch_id_; }
  // element_id is the id of the element being computed.
  const std::string& element_id() const { return element_id_; }
  // attempt is 1 on the first call of these elements; last_attempt tells
  // when a failure will not be retried, e.g. to dump diagnostics.
  uint32_t attempt() const { return attempt_; }
  uint32_t max_attempts() const { return max_attempts_; }
  bool last_attempt() const { return max_attempts_ != 0 && attempt_ >= max_attempts_; }
  // args holds the command-line arguments that are not the protocol's.
  const std::vector<std::string>& args() const { return args_; }
  // seed is the element's deterministic seed for Monte Carlo: the same for
  // an (element, scenario) whatever the batching, the attempt or the
  // engine, and different across scenarios and elements. 0 from a runner
  // that sends none.
  uint64_t seed() const { return seed_; }
  // scenario_id is the id of the scenario the element runs under; "" in a
  // job without scenarios.
  const std::string& scenario_id() const { return scenario_id_; }

 private:
  template <class, class, class, class, class>
  friend class Server;
  std::string job_id_, batch_id_, element_id_, scenario_id_;
  uint32_t attempt_ = 0, max_attempts_ = 0;
  uint64_t seed_ = 0;
  std::vector<std::string> args_;
};

// Side is the view of the side rows one element references, e.g. the quote
// of its underlying. Rows are parsed once per batch and shared.
template <class Row>
class Side {
 public:
  size_t size() const { return index_.size(); }
  bool empty() const { return index_.empty(); }
  const Row& operator[](size_t i) const { return *(*rows_)[index_[i]]; }
  const std::string& key(size_t i) const { return (*keys_)[index_[i]]; }
  // find returns the row joined under key, or nullptr.
  const Row* find(std::string_view key) const {
    for (uint32_t i : index_) {
      if ((*keys_)[i] == key) return &*(*rows_)[i];
    }
    return nullptr;
  }
  // at is operator[] that throws when the element has fewer rows, so a
  // missing quote becomes that element's error.
  const Row& at(size_t i) const {
    if (i >= index_.size()) throw std::out_of_range("element has " + std::to_string(index_.size()) + " side rows");
    return (*this)[i];
  }

  class iterator {
   public:
    iterator(const Side* s, size_t i) : s_(s), i_(i) {}
    const Row& operator*() const { return (*s_)[i_]; }
    iterator& operator++() { ++i_; return *this; }
    bool operator!=(const iterator& o) const { return i_ != o.i_; }

   private:
    const Side* s_;
    size_t i_;
  };
  iterator begin() const { return iterator(this, 0); }
  iterator end() const { return iterator(this, index_.size()); }

 private:
  template <class, class, class, class, class>
  friend class Server;
  const std::vector<std::optional<Row>>* rows_ = nullptr;
  const std::vector<std::string>* keys_ = nullptr;
  std::vector<uint32_t> index_;
};

template <>
class Side<NoSide> {};

// Server runs one process's worth of the protocol; use Serve.
template <class In, class Out, class Row, class Scen, class Fn>
class Server {
 public:
  Server(Fn fn, Info info) : fn_(std::move(fn)), info_(std::move(info)) {}

  // SetInit installs the init hook: init gets the common data's bytes,
  // parses them as the message common describes, and calls the user's
  // hook. See the Serve that takes one.
  void SetInit(const google::protobuf::Descriptor* common,
               std::function<void(std::string_view, const Context&)> init) {
    common_type_ = common;
    init_ = std::move(init);
  }

  int Main(int argc, char** argv) {
    std::string batch_path, results_path, describe_path;
    bool lines = false, serve = false;
    for (int i = 1; i < argc; i++) {
      std::string_view a = argv[i];
      auto value = [&](std::string* dst) {
        if (i + 1 >= argc) internal::Fail(std::string(a) + " needs a value");
        *dst = argv[++i];
      };
      if (a == "--gridrun-batch") {
        value(&batch_path);
      } else if (a == "--gridrun-results") {
        value(&results_path);
      } else if (a == "--gridrun-describe") {
        value(&describe_path);
      } else if (a == "--gridrun-lines") {
        lines = true;
      } else if (a == "--gridrun-serve") {
        serve = true;
      } else {
        ctx_.args_.emplace_back(a);
      }
    }
    if (!describe_path.empty()) return DescribeTo(describe_path);
    if (lines) return Lines();
    if (serve) return ServeWorker();
    if (batch_path.empty() || results_path.empty()) {
      std::cerr << "usage: " << argv[0]
                << " --gridrun-batch FILE --gridrun-results FILE [args...]\n"
                   "       "
                << argv[0] << " --gridrun-describe FILE|-\n       " << argv[0]
                << " --gridrun-lines < elements.jsonl\n       " << argv[0]
                << " --gridrun-serve 3<requests 4>results\n"
                   "This is a gridrun binary; run it with `gridrun run --binary "
                << argv[0] << "`." << std::endl;
      return 2;
    }
    return RunBatch(batch_path, results_path);
  }

 private:
  int DescribeTo(const std::string& path) {
    std::string d = internal::Describe<In, Out, Row, Scen>(info_, common_type_);
    if (path == "-") {
      internal::WriteAll(STDOUT_FILENO, d, "description");
      return 0;
    }
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) internal::Fail("cannot create " + path + ": " + std::strerror(errno));
    internal::WriteAll(fd, d, path.c_str());
    return ::close(fd) == 0 ? 0 : 1;
  }

  int RunBatch(const std::string& batch_path, const std::string& results_path) {
    internal::RawBatch batch;
    batch.data = internal::ReadFile(batch_path);
    if (!internal::ParseBatch(&batch)) internal::Fail(batch_path + ": not a gridrun.v1.Batch");
    int fd = ::open(results_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) internal::Fail("cannot open " + results_path + ": " + std::strerror(errno));
    internal::WatchSigterm(fd);
    RunElements(&batch, fd, results_path.c_str());
    return ::close(fd) == 0 ? 0 : 1;
  }

  // ServeWorker runs batch after batch from file descriptor 3, writing
  // their results to file descriptor 4 (see gridrun.v1.Description.serves).
  int ServeWorker() {
    constexpr int kRequests = 3, kResults = 4;
    internal::WatchSigterm(kResults);
    internal::RawBatch batch;
    while (internal::ReadFrame(kRequests, &batch.data)) {
      if (!internal::ParseBatch(&batch)) internal::Fail("serve: not a gridrun.v1.Batch on the request pipe");
      if (RunElements(&batch, kResults, "the results pipe")) return 0;  // stopped: the stop record said so
      internal::WriteResult(kResults, internal::DoneRecord(), "the results pipe");
      batch = internal::RawBatch{};
    }
    return 0;
  }

  // RunElements runs the user's function over a parsed batch, writing each
  // result to fd, and reports whether SIGTERM stopped it.
  bool RunElements(internal::RawBatch* batch, int fd, const char* what) {
    ctx_.job_id_ = std::string(batch->job_id);
    ctx_.batch_id_ = std::string(batch->batch_id);
    ctx_.attempt_ = batch->attempt;
    ctx_.max_attempts_ = batch->max_attempts;
    RunInit(batch->common);
    PrepareSide(*batch);
    PrepareScenarios(*batch);
    internal::BeginBatch();
    In in;
    std::string payload, err, type;
    for (size_t i = 0; i < batch->elements.size(); i++) {
      const internal::RawElement& e = batch->elements[i];
      if (!internal::Begin(static_cast<uint32_t>(i))) break;
      ctx_.element_id_ = std::string(e.id);
      ctx_.seed_ = e.seed;
      payload.clear();
      err.clear();
      type.clear();
      bool ok;
      const auto start = std::chrono::steady_clock::now();
      if (!init_error_.empty()) {
        ok = false;
        err = init_error_;
        type = init_error_type_;
      } else if (!SelectScenario(*batch, e.scenario, &err)) {
        ok = false;
        type = "gridrun.BadScenario";
      } else if (in.ParseFromArray(e.payload.data(), static_cast<int>(e.payload.size()))) {
        ok = Call(in, e.side_rows, &payload, &err, &type);
      } else {
        ok = false;
        err = "payload does not parse as " + In::descriptor()->full_name();
        type = "gridrun.BadPayload";
      }
      const auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start);
      internal::WriteResult(fd,
                            internal::DelimitedResult(e.id, ok ? &payload : nullptr, err, type,
                                                      static_cast<uint64_t>(nanos.count()), e.scenario),
                            what);
    }
    return internal::EndBatch();
  }

  // RunInit runs the init hook, once per process: on the first batch,
  // which alone carries the common data (empty when the job gives none:
  // the hook then sees the message's defaults). An exception it throws is
  // kept, and every element of the process fails with it: a process whose
  // set-up failed cannot price anything right, and failing each element
  // (rather than crashing) reports the cause once per element without
  // sending each one through a call of its own.
  void RunInit(std::string_view common) {
    if (!init_ || init_ran_) return;
    init_ran_ = true;
    try {
      init_(common, ctx_);
    } catch (const std::exception& ex) {
      init_error_ = std::string("init failed: ") + ex.what();
      init_error_type_ = internal::Demangle(typeid(ex).name());
    } catch (...) {
      init_error_ = "init failed: unknown exception";
      const std::type_info* t = abi::__cxa_current_exception_type();
      init_error_type_ = t != nullptr ? internal::Demangle(t->name()) : "";
    }
    if (!init_error_.empty()) std::cerr << "gridrun: " << init_error_ << std::endl;
  }

  // Call runs the user's function on one element; false with *err set when
  // it threw.
  bool Call(const In& in, const std::vector<uint32_t>& side_rows, std::string* payload, std::string* err,
            std::string* type) {
    try {
      Out out = Invoke(in, side_rows);
      if (!out.SerializeToString(payload)) {
        *err = "cannot serialize " + Out::descriptor()->full_name();
        return false;
      }
      return true;
    } catch (const std::exception& ex) {
      *err = ex.what();
      *type = internal::Demangle(typeid(ex).name());
    } catch (...) {
      *err = "unknown exception";
      const std::type_info* t = abi::__cxa_current_exception_type();
      if (t != nullptr) *type = internal::Demangle(t->name());
    }
    return false;
  }

  Out Invoke(const In& in, const std::vector<uint32_t>& index) {
    if constexpr (std::is_same_v<Row, NoSide>) {
      (void)index;
      if constexpr (!std::is_same_v<Scen, NoScenario>) {
        return fn_(in, *scenario_, ctx_);
      } else if constexpr (std::is_invocable_v<Fn&, const In&, const Context&>) {
        return fn_(in, ctx_);
      } else {
        return fn_(in);
      }
    } else {
      Side<Row> side;
      side.rows_ = &rows_;
      side.keys_ = &keys_;
      side.index_.reserve(index.size());
      for (uint32_t i : index) {
        if (i >= rows_.size()) throw std::out_of_range("side row index " + std::to_string(i) + " out of range");
        if (!rows_[i]) {
          throw std::runtime_error("side row " + keys_[i] + " does not parse as " + Row::descriptor()->full_name());
        }
        side.index_.push_back(i);
      }
      if constexpr (!std::is_same_v<Scen, NoScenario>) {
        return fn_(in, side, *scenario_, ctx_);
      } else if constexpr (std::is_invocable_v<Fn&, const In&, const Side<Row>&, const Context&>) {
        return fn_(in, side, ctx_);
      } else {
        return fn_(in, side);
      }
    }
  }

  void PrepareSide(const internal::RawBatch& batch) {
    if constexpr (!std::is_same_v<Row, NoSide>) {
      rows_.clear();
      keys_.clear();
      rows_.reserve(batch.side_rows.size());
      keys_.reserve(batch.side_rows.size());
      for (const internal::RawSideRow& r : batch.side_rows) {
        keys_.emplace_back(r.key);
        Row row;
        if (row.ParseFromArray(r.payload.data(), static_cast<int>(r.payload.size()))) {
          rows_.emplace_back(std::move(row));
        } else {
          rows_.emplace_back(std::nullopt);
        }
      }
    } else {
      (void)batch;
    }
  }

  // PrepareScenarios parses the batch's scenarios, once per batch: the
  // elements that run under one share its parsed message.
  void PrepareScenarios(const internal::RawBatch& batch) {
    scenario_ = &no_scenario_;
    ctx_.scenario_id_.clear();
    if constexpr (!std::is_same_v<Scen, NoScenario>) {
      scenarios_.clear();
      scenarios_.reserve(batch.scenarios.size());
      for (const internal::RawScenario& r : batch.scenarios) {
        Scen sc;
        if (sc.ParseFromArray(r.payload.data(), static_cast<int>(r.payload.size()))) {
          scenarios_.emplace_back(std::move(sc));
        } else {
          scenarios_.emplace_back(std::nullopt);
        }
      }
    }
  }

  // SelectScenario points the element's call at its scenario; false with
  // *err set when the batch does not have it or it does not parse. A
  // batch without scenarios (a job run without them) hands every element
  // the default scenario message: no shock.
  bool SelectScenario(const internal::RawBatch& batch, uint32_t i, std::string* err) {
    if (batch.scenarios.empty()) return true;
    if (i >= batch.scenarios.size()) {
      *err = "scenario index " + std::to_string(i) + " out of range";
      return false;
    }
    ctx_.scenario_id_.assign(batch.scenarios[i].id);
    if constexpr (!std::is_same_v<Scen, NoScenario>) {
      if (!scenarios_[i]) {
        *err = "scenario " + ctx_.scenario_id_ + " does not parse as " + Scen::descriptor()->full_name();
        return false;
      }
      scenario_ = &*scenarios_[i];
    }
    return true;
  }

  // Lines serves JSON lines on stdin: {"id": ..., "element": {...},
  // "side": [{...}, ...]} in, {"id": ..., "result": {...}} or {"id": ...,
  // "error": "..."} out, one per line. It exists so that line-oriented tools
  // (GNU parallel --pipe, shell pipelines) can drive the same function; the
  // protocol proper never uses stdout. Each line is parsed once, by
  // protobuf's JSON parser, as a message type made at start-up that wraps
  // the binary's own (see internal::LineCodec).
  int Lines() {
    std::ios::sync_with_stdio(false);
    internal::LineCodec codec(internal::Describe<In, Out, Row>(info_));
    scenario_ = &no_scenario_;  // line mode carries no scenarios
    std::string line, wire, json, payload, err, type, id;
    In in;
    RunInit({});  // line mode carries no common data: the hook sees the defaults
    while (std::getline(std::cin, line)) {
      if (line.empty()) continue;
      payload.clear();
      err.clear();
      type.clear();
      id.clear();
      bool ok = false;
      internal::LineParts parts;
      if (!codec.Parse(line, &wire, &parts, &err)) {
        // the message says what is wrong
      } else if (id.assign(parts.id), !init_error_.empty()) {
        err = init_error_;
      } else if (!in.ParseFromArray(parts.element.data(), static_cast<int>(parts.element.size()))) {
        err = "element does not parse as " + In::descriptor()->full_name();
      } else {
        ctx_.element_id_ = id;
        ok = SideFromLine(parts) && Call(in, lines_index_, &payload, &err, &type);
        if (!ok && err.empty()) err = "side row does not parse";
      }
      if (!codec.Render(id, ok ? &payload : nullptr, err, &json)) {
        json = "{\"id\":" + internal::JsonQuote(id) + ",\"error\":\"cannot render the result as JSON\"}";
      }
      std::cout << json << '\n';
    }
    std::cout.flush();
    return 0;
  }

  // SideFromLine parses a line's side rows.
  bool SideFromLine(const internal::LineParts& parts) {
    lines_index_.clear();
    if constexpr (!std::is_same_v<Row, NoSide>) {
      rows_.clear();
      keys_.clear();
      for (std::string_view b : parts.side) {
        Row row;
        if (!row.ParseFromArray(b.data(), static_cast<int>(b.size()))) return false;
        lines_index_.push_back(static_cast<uint32_t>(rows_.size()));
        keys_.emplace_back();
        rows_.emplace_back(std::move(row));
      }
    } else {
      (void)parts;
    }
    return true;
  }

  Fn fn_;
  Info info_;
  Context ctx_;
  const google::protobuf::Descriptor* common_type_ = nullptr;
  std::function<void(std::string_view, const Context&)> init_;
  bool init_ran_ = false;
  std::string init_error_, init_error_type_;
  std::vector<std::optional<Row>> rows_;
  std::vector<std::string> keys_;
  std::vector<uint32_t> lines_index_;
  // The batch's scenarios, parsed once per batch, and the current
  // element's (no_scenario_ when the batch has none).
  using ScenMsg = std::conditional_t<std::is_same_v<Scen, NoScenario>, NoScenario, Scen>;
  std::vector<std::optional<ScenMsg>> scenarios_;
  ScenMsg no_scenario_{};
  const ScenMsg* scenario_ = &no_scenario_;
};

// Serve runs fn over the batch the runner passed on the command line and
// returns the process's exit code. fn is called as fn(element), fn(element,
// context), fn(element, side) or fn(element, side, context), and returns Out;
// side is a Side<Row> when Row is given. With a Scen (the binary's scenario
// message, see docs/scenarios.md), fn is called as fn(element, side,
// scenario, context), or fn(element, scenario, context) without a Row
// (Row = NoSide): scenario is parsed once per batch, and is the default
// message (no shock) in a job without scenarios; context.seed() is the
// element's seed under it.
template <class In, class Out, class Row = NoSide, class Scen = NoScenario, class Fn>
int Serve(int argc, char** argv, Fn&& fn, Info info = {}) {
  static_assert(std::is_base_of_v<google::protobuf::Message, In>, "In must be a protobuf message");
  static_assert(std::is_base_of_v<google::protobuf::Message, Out>, "Out must be a protobuf message");
  if constexpr (!std::is_same_v<Scen, NoScenario>) {
    static_assert(std::is_base_of_v<google::protobuf::Message, Scen>, "Scen must be a protobuf message");
  }
  Server<In, Out, Row, Scen, std::decay_t<Fn>> server(std::forward<Fn>(fn), std::move(info));
  return server.Main(argc, argv);
}

// Serve with an init hook, for binaries that take common data: curves,
// calendars, model parameters shared by every element of a job (gridrun run
// --common FILE). init is called as init(common) or init(common, context)
// with a const Common&, once per process, before its first element: once
// per call, or once per persistent worker. It sees the message's defaults
// when the job gives no common data. The description names Common as the
// binary's common type, so the runner checks the job's file against it
// before the first call. An exception init throws fails every element the
// process is given, each with "init failed: " and its message (an element
// error of the exception's type); stderr says it once.
//
//   pricer::Common common;  // read by the pricing function
//   int main(int argc, char** argv) {
//     return gridrun::Serve<pricer::Trade, pricer::Price, pricer::Quote, pricer::Common>(
//         argc, argv, Price, {"pricer", "1.4.2"}, [](const pricer::Common& c) { common = c; });
//   }
//
// Row is NoSide for a binary that joins no market data. A binary that
// takes scenarios too names both, Scen before Common:
// Serve<In, Out, Row, Scen, Common>(argc, argv, fn, info, init).
template <class In, class Out, class Row, class Common, class Fn, class Init>
int Serve(int argc, char** argv, Fn&& fn, Info info, Init&& init) {
  return Serve<In, Out, Row, NoScenario, Common>(argc, argv, std::forward<Fn>(fn), std::move(info),
                                                 std::forward<Init>(init));
}

template <class In, class Out, class Row, class Scen, class Common, class Fn, class Init>
int Serve(int argc, char** argv, Fn&& fn, Info info, Init&& init) {
  static_assert(std::is_base_of_v<google::protobuf::Message, In>, "In must be a protobuf message");
  static_assert(std::is_base_of_v<google::protobuf::Message, Out>, "Out must be a protobuf message");
  if constexpr (!std::is_same_v<Scen, NoScenario>) {
    static_assert(std::is_base_of_v<google::protobuf::Message, Scen>, "Scen must be a protobuf message");
  }
  static_assert(std::is_base_of_v<google::protobuf::Message, Common>, "Common must be a protobuf message");
  static_assert(std::is_invocable_v<Init&, const Common&> || std::is_invocable_v<Init&, const Common&, const Context&>,
                "init must be callable as init(const Common&) or init(const Common&, const Context&)");
  Server<In, Out, Row, Scen, std::decay_t<Fn>> server(std::forward<Fn>(fn), std::move(info));
  server.SetInit(Common::descriptor(),
                 [init = std::forward<Init>(init)](std::string_view bytes, const Context& ctx) mutable {
                   Common common;
                   if (!common.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
                     throw std::invalid_argument("the common data does not parse as " + Common::descriptor()->full_name());
                   }
                   if constexpr (std::is_invocable_v<Init&, const Common&, const Context&>) {
                     init(static_cast<const Common&>(common), ctx);
                   } else {
                     (void)ctx;
                     init(static_cast<const Common&>(common));
                   }
                 });
  return server.Main(argc, argv);
}

}  // namespace gridrun

#endif  // GRIDRUN_GRIDRUN_H_
