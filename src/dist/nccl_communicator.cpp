// NCCL communicator. Sums are reproducible: the ranks' contributions are all-gathered and folded
// in rank order on every rank (as the MPI communicator does), so the result is bitwise identical
// on every rank and does not depend on NCCL's ring / tree choice or on timing. Max is
// order-independent and uses ncclAllReduce directly. Every collective ends with a stream sync, the
// device allreduce included: no NCCL operation is ever left pending when a call returns or throws
// (a call that fails aborts the communicator first), so no later device wait of this process can
// hang on a peer. A communicator destroyed while an exception unwinds, or ended by abort_job
// (dist/job_abort.h, where it registers itself), is aborted (ncclCommAbort, local) rather than
// destroyed (ncclCommDestroy may wait for the peers to quiesce).
#include "dist/nccl_communicator.h"

#include <fmt/format.h>
#include <mpi.h>
#include <nccl.h>

#include <algorithm>
#include <cstring>
#include <exception>

#include "core/cuda_state.h"
#include "core/device.h"
#include "core/error.h"
#include "dist/gpu_binding.h"
#include "dist/job_abort.h"
#include "dist/mpi_communicator.h"

namespace sp::dist {
namespace {

void nccl_check(ncclResult_t r, const char* what) {
  if (r != ncclSuccess)
    throw RuntimeFailure(
        fmt::format("NCCL call failed: {}: {} ({})", what, ncclGetErrorString(r), ncclGetLastError(nullptr)));
}
#define SP_NCCL_CHECK(stmt) nccl_check((stmt), #stmt)

struct DeviceFree {
  int device;
  void operator()(void* p) const noexcept {
    cudaSetDevice(device);
    cudaFree(p);
  }
};

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(int rank, int size, int device, const ncclUniqueId& id)
      : rank_(rank),
        size_(size),
        device_(device),
        stream_(device_stream(device)),
        staging_(nullptr, {device}),
        unwinding_at_birth_(std::uncaught_exceptions()),
        registration_([this] { abort_comm(); }) {
    SP_CUDA_CHECK(cudaSetDevice(device_));
    SP_NCCL_CHECK(ncclCommInitRank(&comm_, size_, id, rank_));
  }

  ~NcclCommunicator() override {
    if (comm_ == nullptr) return;
    if (std::uncaught_exceptions() > unwinding_at_birth_)
      abort_comm();  // an error is on its way to abort_job: never wait for a peer
    else
      ncclCommDestroy(comm_);
  }
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "nccl"; }

  void allreduce_sum(std::span<double> d) override { fixed_order_sum(d, ncclFloat64); }
  void allreduce_sum(std::span<int64_t> d) override { fixed_order_sum(d, ncclInt64); }

  // Device tensors are reduced in place on the device's shared work stream (the one every
  // ExecContext of the device uses, so no extra ordering is needed); host tensors are staged.
  void allreduce_sum(Tensor& t) override {
    SP_CHECK(t.dtype() == DType::I64, "allreduce_sum(Tensor): I64 expected, got {}", dtype_name(t.dtype()));
    if (size_ == 1 || t.numel() == 0) return;
    if (t.is_cpu()) return Communicator::allreduce_sum(t);
    SP_CHECK(t.device().index == device_, "allreduce_sum: tensor on cuda:{}, communicator on cuda:{}", t.device().index,
             device_);
    guarded([&] {
      SP_NCCL_CHECK(
          ncclAllReduce(t.data<int64_t>(), t.data<int64_t>(), size_t(t.numel()), ncclInt64, ncclSum, live(), stream_));
      SP_CUDA_CHECK(cudaStreamSynchronize(stream_));  // complete before returning (see the top)
    });
  }

  void allreduce_max(std::span<double> d) override {
    if (d.empty()) return;
    guarded([&] {
      void* buf = stage(d.size_bytes());
      upload(buf, d.data(), d.size_bytes());
      SP_NCCL_CHECK(ncclAllReduce(buf, buf, d.size(), ncclFloat64, ncclMax, live(), stream_));
      download(d.data(), buf, d.size_bytes());
    });
  }

  void broadcast(std::span<uint8_t> d, int root) override {
    SP_REQUIRE(root >= 0 && root < size_, "broadcast: root {} is not a rank of {}", root, size_);
    if (d.empty()) return;
    guarded([&] {
      void* buf = stage(d.size_bytes());
      if (rank_ == root) upload(buf, d.data(), d.size_bytes());
      SP_NCCL_CHECK(ncclBroadcast(buf, buf, d.size(), ncclUint8, root, live(), stream_));
      download(d.data(), buf, d.size_bytes());
    });
  }

  std::vector<std::string> allgather(const std::string& mine) override {
    return guarded([&] { return allgather_(mine); });
  }

  void barrier() override {
    guarded([&] {
      SP_CUDA_CHECK(cudaStreamSynchronize(stream_));
      if (MPI_Barrier(MPI_COMM_WORLD) != MPI_SUCCESS) throw RuntimeFailure("MPI_Barrier failed");
    });
  }

  [[noreturn]] void abort(int code) override { abort_job(code); }  // aborts this communicator first

 private:
  // Runs one collective; if it throws, the communicator is aborted before the exception leaves, so
  // no NCCL operation of this process stays pending on the device.
  template <typename F>
  auto guarded(F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (...) {
      abort_comm();
      throw;
    }
  }
  ncclComm_t live() const {
    if (comm_ == nullptr) throw RuntimeFailure("NCCL communicator used after it was aborted");
    return comm_;
  }
  void abort_comm() noexcept {
    if (comm_ != nullptr) ncclCommAbort(comm_);  // local: frees this rank's side, waits for no peer
    comm_ = nullptr;
  }

  std::vector<std::string> allgather_(const std::string& mine) {
    // Lengths first, then every string padded to the longest.
    std::vector<int64_t> lens(static_cast<size_t>(size_));
    {
      int64_t* dev = static_cast<int64_t*>(stage(sizeof(int64_t) * size_t(size_)));
      const int64_t n = int64_t(mine.size());
      upload(dev + rank_, &n, sizeof n);
      SP_NCCL_CHECK(ncclAllGather(dev + rank_, dev, 1, ncclInt64, live(), stream_));
      download(lens.data(), dev, sizeof(int64_t) * size_t(size_));
    }
    const size_t width = size_t(std::max<int64_t>(1, *std::max_element(lens.begin(), lens.end())));
    std::string padded = mine;
    padded.resize(width, '\0');
    char* dev = static_cast<char*>(stage(width * size_t(size_)));
    upload(dev + width * size_t(rank_), padded.data(), width);
    SP_NCCL_CHECK(ncclAllGather(dev + width * size_t(rank_), dev, width, ncclUint8, live(), stream_));
    std::string all(width * size_t(size_), '\0');
    download(all.data(), dev, all.size());
    std::vector<std::string> out;
    for (int r = 0; r < size_; ++r) out.push_back(all.substr(width * size_t(r), size_t(lens[size_t(r)])));
    return out;
  }

  template <typename T>
  void fixed_order_sum(std::span<T> d, ncclDataType_t type) {
    if (d.empty() || size_ == 1) return;
    guarded([&] { fixed_order_sum_(d, type); });
  }
  template <typename T>
  void fixed_order_sum_(std::span<T> d, ncclDataType_t type) {
    const size_t n = d.size();
    T* dev = static_cast<T*>(stage(sizeof(T) * n * size_t(size_)));
    upload(dev + n * size_t(rank_), d.data(), d.size_bytes());
    SP_NCCL_CHECK(ncclAllGather(dev + n * size_t(rank_), dev, n, type, live(), stream_));
    std::vector<T> all(n * size_t(size_));
    download(all.data(), dev, sizeof(T) * all.size());
    for (size_t i = 0; i < n; ++i) {
      T acc = all[i];
      for (int r = 1; r < size_; ++r) acc += all[size_t(r) * n + i];
      d[i] = acc;
    }
  }

  // Device staging buffer of at least `bytes`, grown geometrically.
  void* stage(size_t bytes) {
    if (bytes > staging_bytes_) {
      SP_CUDA_CHECK(cudaSetDevice(device_));
      SP_CUDA_CHECK(cudaStreamSynchronize(stream_));
      staging_.reset();
      const size_t want = std::max(bytes, staging_bytes_ * 2);
      void* p = nullptr;
      SP_CUDA_CHECK(cudaMalloc(&p, want));
      staging_.reset(p);
      staging_bytes_ = want;
    }
    return staging_.get();
  }
  void upload(void* dst, const void* src, size_t bytes) {
    SP_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_));
  }
  void download(void* dst, const void* src, size_t bytes) {
    SP_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
    SP_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  int rank_, size_, device_;
  cudaStream_t stream_;
  ncclComm_t comm_ = nullptr;
  std::unique_ptr<void, DeviceFree> staging_;
  size_t staging_bytes_ = 0;
  int unwinding_at_birth_;
  AbortRegistration registration_;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(int device) {
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (device < 0) device = gpu_for_rank(local_rank(), cuda_device_count());  // the binding rule
  // NCCL needs a GPU per rank: checked on the GPUs' UUIDs, collectively, so that no rank is left
  // waiting in the bootstrap below.
  const auto world = make_mpi_communicator();
  const Placement p = place_ranks(*world, device < 0 ? Device::cpu() : Device::cuda(device));
  SP_REQUIRE(p.max_ranks_per_gpu == 1 && p.ranks_on_my_gpu == 1 &&
                 std::none_of(p.ids.begin(), p.ids.end(), [](const std::string& id) { return id.empty(); }),
             "nccl communicator: every rank needs a GPU of its own, but {} (this rank {}: {}); start at most one "
             "rank per GPU or use runtime.communicator: mpi",
             p.max_ranks_per_gpu > 1 ? fmt::format("{} ranks share one GPU", p.max_ranks_per_gpu)
                                     : std::string("a rank sees no GPU"),
             rank, device < 0 ? std::string("no GPU") : fmt::format("cuda:{} {}", device, p.ids[size_t(rank)]));
  ncclUniqueId id;
  if (rank == 0) SP_NCCL_CHECK(ncclGetUniqueId(&id));
  if (MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD) != MPI_SUCCESS)
    throw RuntimeFailure("MPI_Bcast of the NCCL unique id failed");
  return std::make_unique<NcclCommunicator>(rank, size, device, id);
}

}  // namespace sp::dist
