#pragma once
// How a failing multi-rank job ends without hanging (docs/architecture.md, "Process model").
//
// Every communicator that can leave a peer or the device waiting (NCCL) registers an abort action
// here for as long as it lives. abort_job runs those actions (ncclCommAbort: local, never waits for
// a peer, and kills any NCCL kernel of this process still waiting for one), then MPI_Abort, which
// ends every rank of the job, then _Exit: no destructor, no MPI_Finalize, no ncclCommDestroy runs.
#include <cstdint>
#include <functional>

namespace sp::dist {

// Registers `abort` (called at most once, from abort_job) until destroyed. Not copyable.
class AbortRegistration {
 public:
  explicit AbortRegistration(std::function<void()> abort);
  ~AbortRegistration();
  AbortRegistration(const AbortRegistration&) = delete;
  AbortRegistration& operator=(const AbortRegistration&) = delete;

 private:
  uint64_t id_;
};

// The registered aborts (newest first), then MPI_Abort(MPI_COMM_WORLD, code), then _Exit(code).
[[noreturn]] void abort_job(int code);

// std::terminate (an exception that escapes a thread or a noexcept function) logs and calls
// abort_job(1) instead of abort(): the job ends at once whatever the other ranks are doing.
void install_terminate_handler();

}  // namespace sp::dist
