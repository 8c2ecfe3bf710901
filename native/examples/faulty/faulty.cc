// faulty: a gridrun binary that misbehaves on request, one element at a
// time, for the runner's fault-matrix tests. Each Task names its fault:
//
//   ok             y = 2x
//   throw          throws std::runtime_error (an element error)
//   segv           dereferences null
//   abort          std::abort()
//   exit           exits with status arg
//   hang           ignores SIGTERM and sleeps forever
//   sleep          sleeps arg milliseconds, then y = 2x
//   garbage        appends bytes that are not a Result to the results file
//   truncate       appends half a Result, then exits 0
//   unknown-id     appends a Result for an id not in the batch
//   duplicate-id   appends a Result for this element before the SDK's own
//   stderr-flood   writes arg MiB to stderr, then y = 2x
//   grandchild     forks a process that sleeps forever, then y = 2x
//   oom            mallocs arg MiB and writes to every page
//   stdout         writes to stdout, then y = 2x
//   fail-attempts  exits with status 75 unless the batch's attempt > arg
//   shout          writes a line to stderr and aborts
//   stuck-first    sleeps arg ms the first time the element runs, not after
//   setsid-grandchild forks a process that makes a session of its own,
//                  keeps stdout and stderr open and sleeps forever; writes
//                  its pid to $FAULTY_STATE_DIR/ID.grandchild if that is
//                  set; then sleeps arg ms and y = 2x
//   busy           loops on the CPU forever, without a result
//   stuck-later    sleeps 300 ms the first time the element runs, arg ms after
//                  (the runs are counted in $FAULTY_STATE_DIR)
//
// Every element appends "PID\n" to $FAULTY_RUN_LOG, if set; the init hook
// appends "PID TAG\n" to $FAULTY_INIT_LOG, if set, and throws when the
// common data's tag is "throw": the tests count processes and inits.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>

#include "faulty.pb.h"
#include "gridrun/gridrun.h"

namespace {

std::string results_path;

// Append writes bytes to the results stream behind the SDK's back: the
// results file of a call, or the results pipe (fd 4) of a worker.
void Append(const std::string& bytes) {
  const bool worker = results_path.empty();
  int fd = worker ? 4 : ::open(results_path.c_str(), O_WRONLY | O_APPEND);
  if (fd < 0) std::abort();
  if (::write(fd, bytes.data(), bytes.size()) != static_cast<ssize_t>(bytes.size())) std::abort();
  if (!worker) ::close(fd);
}

std::string ResultFor(const std::string& id) {
  faulty::Output out;
  out.set_y(-1);
  std::string payload = out.SerializeAsString();
  return gridrun::internal::DelimitedResult(id, &payload, {}, {}, 0);
}

// FirstRun reports whether this is the first run of element id, anywhere:
// it creates a marker file in $FAULTY_STATE_DIR.
bool FirstRun(const std::string& id) {
  const char* dir = std::getenv("FAULTY_STATE_DIR");
  if (dir == nullptr) throw std::runtime_error("FAULTY_STATE_DIR is not set");
  const std::string path = std::string(dir) + "/" + id;
  int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0600);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

// AppendLine appends a line to the file named by the environment variable
// env, if set, in one write (O_APPEND: lines of concurrent processes do not
// mix).
void AppendLine(const char* env, const std::string& line) {
  const char* path = std::getenv(env);
  if (path == nullptr) return;
  int fd = ::open(path, O_CREAT | O_WRONLY | O_APPEND, 0600);
  if (fd < 0) std::abort();
  if (::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) std::abort();
  ::close(fd);
}

void Init(const faulty::Common& c) {
  AppendLine("FAULTY_INIT_LOG", std::to_string(::getpid()) + " " + c.tag() + "\n");
  if (c.tag() == "throw") throw std::runtime_error("common tag says throw");
}

faulty::Output Run(const faulty::Task& t, const gridrun::Context& ctx) {
  AppendLine("FAULTY_RUN_LOG", std::to_string(::getpid()) + "\n");
  const std::string& f = t.fault();
  if (f == "throw") throw std::runtime_error("bad task " + t.id());
  if (f == "segv") {
    volatile int* p = nullptr;
    *p = 1;
  }
  if (f == "abort") std::abort();
  if (f == "exit") std::exit(static_cast<int>(t.arg()));
  if (f == "hang") {
    ::signal(SIGTERM, SIG_IGN);
    for (;;) ::pause();
  }
  if (f == "sleep") std::this_thread::sleep_for(std::chrono::milliseconds(t.arg()));
  if (f == "garbage") Append(std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11));
  if (f == "truncate") {
    std::string r = ResultFor(t.id());
    Append(r.substr(0, r.size() / 2));
    std::_Exit(0);
  }
  if (f == "unknown-id") Append(ResultFor("no-such-element"));
  if (f == "duplicate-id") Append(ResultFor(t.id()));
  if (f == "stderr-flood") {
    std::string mib(1 << 20, 'e');
    mib.back() = '\n';
    for (int64_t i = 0; i < t.arg(); i++) {
      if (::write(STDERR_FILENO, mib.data(), mib.size()) < 0) break;
    }
  }
  if (f == "grandchild") {
    if (::fork() == 0) {
      for (;;) ::pause();
    }
  }
  if (f == "setsid-grandchild") {
    const char* dir = std::getenv("FAULTY_STATE_DIR");
    // Names are made before the fork: the child of a threaded process may
    // only make async-signal-safe calls, and malloc is not one.
    const std::string path = dir == nullptr ? "" : std::string(dir) + "/" + t.id() + ".grandchild";
    const std::string tmp = path + ".tmp";
    if (::fork() == 0) {
      ::setsid();
      if (!path.empty()) {
        // Written under a temporary name and renamed, so a reader never
        // sees half a pid.
        char buf[32];
        int n = std::snprintf(buf, sizeof buf, "%d\n", static_cast<int>(::getpid()));
        int fd = ::open(tmp.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0600);
        if (fd >= 0 && ::write(fd, buf, n) == n && ::close(fd) == 0) ::rename(tmp.c_str(), path.c_str());
      }
      for (;;) ::pause();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(t.arg()));
  }
  if (f == "busy") {
    for (volatile uint64_t i = 0;; i++) {
    }
  }
  if (f == "oom") {
    const size_t n = static_cast<size_t>(t.arg()) << 20;
    char* p = static_cast<char*>(std::malloc(n));  // NULL past the limit: the write below crashes
    for (size_t i = 0; i < n; i += 4096) p[i] = 1;
    std::free(p);
  }
  if (f == "stdout") std::cout << "chatter about " << t.id() << std::endl;
  if (f == "fail-attempts" && ctx.attempt() <= t.arg()) std::exit(75);
  if (f == "stuck-first" || f == "stuck-later") {
    const bool first = FirstRun(t.id());
    int64_t ms = first ? t.arg() : 0;
    if (f == "stuck-later") ms = first ? 300 : t.arg();
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }
  if (f == "shout") {
    std::cerr << "something broke in " << t.id() << std::endl;
    std::abort();
  }
  faulty::Output out;
  out.set_y(2 * t.x());
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; i++) {
    if (std::strcmp(argv[i], "--gridrun-results") == 0) results_path = argv[i + 1];
  }
  return gridrun::Serve<faulty::Task, faulty::Output, gridrun::NoSide, faulty::Common>(argc, argv, Run, {"faulty", "1"},
                                                                                       Init);
}
