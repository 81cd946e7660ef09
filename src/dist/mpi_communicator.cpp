#include "dist/mpi_communicator.h"

#include <fmt/format.h>
#include <mpi.h>

#include <algorithm>

#include "core/device.h"
#include "core/error.h"
#include "dist/job_abort.h"

namespace sp::dist {
namespace {

void mpi_check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw RuntimeFailure(fmt::format("MPI call failed: {}: {}", what, std::string(msg, size_t(len))));
}
#define SP_MPI_CHECK(stmt) mpi_check((stmt), #stmt)

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    SP_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank_));
    SP_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size_));
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "mpi"; }

  void allreduce_sum(std::span<double> d) override { fixed_order_sum(d, MPI_DOUBLE); }
  // Integer sums are exact and associative: MPI's own reduction, in chunks of int-sized counts.
  void allreduce_sum(std::span<int64_t> d) override {
    constexpr size_t kChunk = size_t(1) << 28;
    for (size_t i = 0; i < d.size(); i += kChunk)
      SP_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, d.data() + i, int(std::min(kChunk, d.size() - i)), MPI_INT64_T, MPI_SUM,
                                 MPI_COMM_WORLD));
  }
  // Device tensors (a GPU run whose ranks share a GPU, runtime.communicator) go through page-locked
  // host memory kept between calls: one device-to-host copy on the device's work stream (so after
  // the kernels that made the tensor), the integer sum, one copy back.
  void allreduce_sum(Tensor& t) override {
    SP_CHECK(t.dtype() == DType::I64, "allreduce_sum(Tensor): I64 expected, got {}", dtype_name(t.dtype()));
    if (size_ == 1 || t.numel() == 0) return;
    if (t.is_cpu()) return allreduce_sum(std::span<int64_t>(t.data<int64_t>(), size_t(t.numel())));
    if (staging_.size() < t.nbytes()) staging_ = StagingBuffer(std::max(t.nbytes(), 2 * staging_.size()));
    Tensor host = Tensor::view_of(staging_.data(), t.shape(), DType::I64, Device::cpu());
    host.copy_from(t);
    allreduce_sum(std::span<int64_t>(host.data<int64_t>(), size_t(host.numel())));
    t.copy_from(host);
  }
  using Communicator::allreduce_sum;
  void allreduce_max(std::span<double> d) override {
    SP_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, d.data(), int(d.size()), MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD));
  }
  void broadcast(std::span<uint8_t> d, int root) override {
    SP_MPI_CHECK(MPI_Bcast(d.data(), int(d.size()), MPI_BYTE, root, MPI_COMM_WORLD));
  }
  std::vector<std::string> allgather(const std::string& mine) override {
    int n = int(mine.size());
    std::vector<int> sizes(static_cast<size_t>(size_)), displs(static_cast<size_t>(size_));
    SP_MPI_CHECK(MPI_Allgather(&n, 1, MPI_INT, sizes.data(), 1, MPI_INT, MPI_COMM_WORLD));
    int total = 0;
    for (int r = 0; r < size_; ++r) {
      displs[size_t(r)] = total;
      total += sizes[size_t(r)];
    }
    std::string all(size_t(total), '\0');
    SP_MPI_CHECK(
        MPI_Allgatherv(mine.data(), n, MPI_BYTE, all.data(), sizes.data(), displs.data(), MPI_BYTE, MPI_COMM_WORLD));
    std::vector<std::string> out;
    for (int r = 0; r < size_; ++r) out.push_back(all.substr(size_t(displs[size_t(r)]), size_t(sizes[size_t(r)])));
    return out;
  }
  void barrier() override { SP_MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD)); }
  [[noreturn]] void abort(int code) override { abort_job(code); }  // registered NCCL communicators first

 private:
  template <typename T>
  void fixed_order_sum(std::span<T> d, MPI_Datatype type) {
    if (size_ == 1) return;
    std::vector<T> all(d.size() * size_t(size_));
    SP_MPI_CHECK(MPI_Allgather(d.data(), int(d.size()), type, all.data(), int(d.size()), type, MPI_COMM_WORLD));
    for (size_t i = 0; i < d.size(); ++i) {
      T acc = all[i];
      for (int r = 1; r < size_; ++r) acc += all[size_t(r) * d.size() + i];
      d[i] = acc;
    }
  }
  int rank_ = 0, size_ = 1;
  StagingBuffer staging_;
};

}  // namespace

MpiRuntime::MpiRuntime(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    SP_MPI_CHECK(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided));
  }
  // Errors come back as codes so they turn into exceptions with a message, then MPI_Abort.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
}

MpiRuntime::~MpiRuntime() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

std::unique_ptr<Communicator> make_mpi_communicator() { return std::make_unique<MpiCommunicator>(); }

int local_rank() {
  MPI_Comm node;
  SP_MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
  int r = 0;
  MPI_Comm_rank(node, &r);
  MPI_Comm_free(&node);
  return r;
}

}  // namespace sp::dist
