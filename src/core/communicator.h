#pragma once
// The collective interface the algorithm sees. Implementations live in src/dist: MPI (CPU path,
// CI) and NCCL (GPU path), bootstrapped the nccl-tests way. Reductions are in a fixed order so
// that the result does not depend on timing (reproducible masks for 1, 2 or 4 ranks).
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace sp {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend() const = 0;  // "mpi", "nccl", "self"

  // In-place sum over all ranks of host buffers (fixed order: bitwise identical on every rank).
  virtual void allreduce_sum(std::span<double> data) = 0;
  virtual void allreduce_sum(std::span<int64_t> data) = 0;
  virtual void allreduce_max(std::span<double> data) = 0;
  // In-place sum over all ranks of an I64 tensor on any device (integer sums are exact, so any
  // reduction order gives the same bits). The default stages device memory through the host; a
  // GPU communicator (NCCL) reduces on the device.
  virtual void allreduce_sum(Tensor& t);
  // Root's bytes are copied to every rank; non-roots must pass a buffer of the same size.
  virtual void broadcast(std::span<uint8_t> data, int root) = 0;
  // Every rank contributes a byte string; everyone receives all of them in rank order.
  virtual std::vector<std::string> allgather(const std::string& mine) = 0;
  virtual void barrier() = 0;
  // Ends every rank of the job (MPI_Abort); used by main after an error so no peer hangs.
  [[noreturn]] virtual void abort(int code) = 0;

  bool is_root() const { return rank() == 0; }
  double allreduce_sum(double v) {
    allreduce_sum(std::span<double>(&v, 1));
    return v;
  }
};

// A one-rank communicator (backend "self"): for single-process runs and unit tests.
std::unique_ptr<Communicator> make_self_communicator();

}  // namespace sp
