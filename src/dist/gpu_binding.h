#pragma once
// The one rule that binds a rank to a GPU, used by the session (cli/session.cpp), the NCCL
// communicator and the plan (cli/plan.cpp), and how many ranks end up on each physical GPU.
//
// Rule: a rank computes on device (node-local rank) mod (GPUs it can see), -1 (the CPU) when it
// sees none. This covers both ways a launcher hands out GPUs:
//  - every task sees all G GPUs of its node (`--gpus-per-node=G`, plain `mpirun`): rank k of the
//    node takes GPU k mod G, so G ranks per node get one GPU each;
//  - each task sees one GPU of its own (`srun --gpus-per-task=1`, CUDA_VISIBLE_DEVICES per rank):
//    every rank takes its device 0, a different physical GPU for each.
// More ranks on a node than GPUs they see: ranks k and k + G share GPU k mod G. Whether ranks
// share a physical GPU is measured, not inferred (place_ranks compares the GPUs' UUIDs): with
// several ranks on one GPU the prune sums its statistics through MPI (device tensors staged through
// page-locked host memory) instead of NCCL, which needs a GPU per rank (runtime.communicator).
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/communicator.h"
#include "core/device.h"

namespace sp::dist {

// The device index (into the devices this process sees) for node-local rank `local_rank`, or -1
// when `visible_gpus` is 0. Pure.
int gpu_for_rank(int local_rank, int visible_gpus);

// What the launcher's environment says about this process (for the log and the unit tests; the
// run itself takes the node-local rank from MPI and the visible GPUs from the CUDA runtime, which
// agree with these under srun and mpirun).
struct LaunchEnv {
  int local_rank = -1;       // SLURM_LOCALID, else OMPI_COMM_WORLD_LOCAL_RANK, else MPI_LOCALRANKID; -1: none
  std::string local_source;  // the variable that gave local_rank
  // CUDA_VISIBLE_DEVICES split at commas; nullopt when unset (every GPU of the node is visible).
  std::optional<std::vector<std::string>> visible;
  std::string slurm_gpus;  // SLURM_STEP_GPUS, else SLURM_JOB_GPUS: the node's GPUs Slurm gave the step / job
};
LaunchEnv read_launch_env(const std::function<const char*(const char*)>& getenv);
LaunchEnv read_launch_env();  // from the process environment
// The number of GPUs CUDA_VISIBLE_DEVICES leaves visible (entries up to the first invalid one, as
// the CUDA runtime reads it), or `all` when it is unset.
int visible_gpus(const LaunchEnv& env, int all);
// The GPU the rule picks, as Slurm / nvidia-smi number it where the environment says so: entry
// `index` of CUDA_VISIBLE_DEVICES, else `index` itself.
std::string physical_gpu(const LaunchEnv& env, int index);

// For each rank, how many ranks of the job compute on its physical GPU (0 for a rank on the CPU).
// ids: one identifier per rank (a GPU UUID; "" for the CPU). Pure.
std::vector<int> ranks_per_device(const std::vector<std::string>& ids);

// This rank's placement, decided collectively (every rank of `comm` calls it).
struct Placement {
  Device device;
  int ranks_on_my_gpu = 0;       // ranks of the job on this rank's GPU (0 on the CPU)
  int max_ranks_per_gpu = 0;     // the largest such count over the job (0: every rank on the CPU)
  std::vector<std::string> ids;  // every rank's GPU UUID ("" for the CPU), in rank order
};
Placement place_ranks(Communicator& comm, const Device& mine);

// A GPU's UUID ("GPU-..."), the same whatever CUDA_VISIBLE_DEVICES numbering a process sees it by;
// "" without CUDA.
std::string gpu_uuid(int index);

}  // namespace sp::dist
