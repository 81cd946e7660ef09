#pragma once
// Streams a checkpoint's decoder layers to the compute device. Layer l + 1 is read, converted to
// the compute dtype and checked (io::Checkpoint::load_into, threaded) on a background thread while
// the caller computes with layer l; then its bytes go to the device in one pass from host staging
// memory that is page-locked where there is a GPU (core/device.h StagingBuffer). Two staging slabs
// alternate: the one being copied from and the one being filled. On the CPU the staged tensors are
// the layer itself (no copy).
#include <exception>
#include <thread>
#include <utility>
#include <vector>

#include "core/device.h"
#include "core/tensor.h"
#include "model/arch.h"
#include "model/weight_source.h"

namespace sp::model {

class LayerPrefetcher {
 public:
  LayerPrefetcher(WeightSource& source, const Arch& arch, DType dtype, Device device);
  ~LayerPrefetcher();  // waits for the read in flight
  LayerPrefetcher(const LayerPrefetcher&) = delete;
  LayerPrefetcher& operator=(const LayerPrefetcher&) = delete;

  // Layer l's tensors on the device, by role. Uses the background read of l when that is the one in
  // flight (its error, e.g. a NaN in the file, is thrown here), else reads l now; then starts
  // reading l + 1 before copying l to the device.
  std::vector<std::pair<Role, Tensor>> load(int layer);

 private:
  struct Slab {
    int layer = -1;
    StagingBuffer staging;                      // CUDA: the bytes of every tensor, 256-byte aligned
    std::vector<std::pair<Role, Tensor>> host;  // views into staging (CUDA) or owned tensors (CPU)
    std::exception_ptr error;
  };
  void read(int layer, Slab& s);  // on either thread
  void join();

  WeightSource& source_;
  const Arch& arch_;
  DType dtype_;
  Device device_;
  Slab slabs_[2];
  int filling_ = -1;  // slab the background thread fills, -1: none in flight
  std::thread thread_;
};

}  // namespace sp::model
