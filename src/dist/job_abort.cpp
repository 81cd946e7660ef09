#include "dist/job_abort.h"

#include <mpi.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/log.h"

namespace sp::dist {
namespace {

struct Registry {
  std::mutex mu;
  uint64_t next = 0;
  std::vector<std::pair<uint64_t, std::function<void()>>> aborts;
};
Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: abort_job may run during static destruction
  return *r;
}

}  // namespace

AbortRegistration::AbortRegistration(std::function<void()> abort) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  id_ = r.next++;
  r.aborts.emplace_back(id_, std::move(abort));
}

AbortRegistration::~AbortRegistration() {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  std::erase_if(r.aborts, [this](const auto& e) { return e.first == id_; });
}

void abort_job(int code) {
  std::vector<std::pair<uint64_t, std::function<void()>>> aborts;
  {
    Registry& r = registry();
    std::lock_guard lock(r.mu);
    aborts.swap(r.aborts);  // each runs once, even if an abort action ends up here again
  }
  for (auto it = aborts.rbegin(); it != aborts.rend(); ++it) it->second();
  logger().flush();
  std::fflush(stdout);
  std::fflush(stderr);
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

void install_terminate_handler() {
  std::set_terminate([] {
    std::string what = "unknown";
    if (const std::exception_ptr e = std::current_exception()) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        what = x.what();
      } catch (...) {
      }
    }
    std::fprintf(stderr, "struprune-dist: terminate called (%s); aborting the job\n", what.c_str());
    abort_job(1);
  });
}

}  // namespace sp::dist
