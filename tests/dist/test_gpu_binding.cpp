// The GPU binding rule (dist/gpu_binding.h) for both ways Slurm hands out GPUs, the launcher
// environment it is read from, the count of ranks per physical GPU, the collectives a run chooses
// (dist/device_communicator.h) and abort_job's order (dist/job_abort.h). No MPI job needed.
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <string>

#include "core/error.h"
#include "dist/device_communicator.h"
#include "dist/gpu_binding.h"
#include "dist/job_abort.h"

namespace sp::dist {
namespace {

using Env = std::map<std::string, std::string>;

LaunchEnv parse(const Env& env) {
  return read_launch_env([&env](const char* name) -> const char* {
    const auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

// The GPU a rank uses given its environment and the GPUs of its node, as the run decides it: the
// node-local rank (MPI's, which equals SLURM_LOCALID under srun) and the devices CUDA shows it.
std::string bound(const Env& env, int node_gpus) {
  const LaunchEnv e = parse(env);
  const int gpu = gpu_for_rank(e.local_rank, visible_gpus(e, node_gpus));
  return gpu < 0 ? "cpu" : physical_gpu(e, gpu);
}

TEST(GpuBinding, RuleIsLocalRankModuloVisibleGpus) {
  EXPECT_EQ(gpu_for_rank(0, 0), -1);
  EXPECT_EQ(gpu_for_rank(5, 0), -1);
  for (int r = 0; r < 8; ++r) EXPECT_EQ(gpu_for_rank(r, 1), 0);  // one GPU each, or one shared
  for (int r = 0; r < 8; ++r) EXPECT_EQ(gpu_for_rank(r, 8), r);
  EXPECT_EQ(gpu_for_rank(9, 8), 1);  // more ranks than GPUs: ranks 1 and 9 share GPU 1
  EXPECT_EQ(gpu_for_rank(3, 2), 1);
  EXPECT_THROW(gpu_for_rank(-1, 2), RuntimeFailure);
}

// srun --gpus-per-task=1 (or --gpu-bind=single:1): each task sees its own GPU as device 0.
TEST(GpuBinding, SlurmOneGpuPerTask) {
  for (int task = 0; task < 4; ++task) {
    const std::string id = std::to_string(task);
    const Env env = {{"SLURM_LOCALID", id}, {"CUDA_VISIBLE_DEVICES", id}, {"SLURM_STEP_GPUS", id}};
    const LaunchEnv e = parse(env);
    EXPECT_EQ(e.local_rank, task);
    EXPECT_EQ(e.local_source, "SLURM_LOCALID");
    EXPECT_EQ(visible_gpus(e, 4), 1);
    EXPECT_EQ(gpu_for_rank(e.local_rank, 1), 0) << "device 0 of what the task sees";
    EXPECT_EQ(bound(env, 4), id) << "task " << task << " computes on its own GPU";
    EXPECT_EQ(e.slurm_gpus, id);
  }
}

// --gpus-per-node=4 --ntasks-per-node=4: every task sees the node's 4 GPUs and picks SLURM_LOCALID's.
TEST(GpuBinding, SlurmAllGpusOfTheNode) {
  for (int task = 0; task < 4; ++task) {
    const Env env = {
        {"SLURM_LOCALID", std::to_string(task)}, {"CUDA_VISIBLE_DEVICES", "0,1,2,3"}, {"SLURM_JOB_GPUS", "0,1,2,3"}};
    EXPECT_EQ(visible_gpus(parse(env), 4), 4);
    EXPECT_EQ(bound(env, 4), std::to_string(task));
  }
  // Slurm's GPUs of a node need not start at 0: the rule indexes what the task sees.
  const Env env = {{"SLURM_LOCALID", "1"}, {"CUDA_VISIBLE_DEVICES", "4,5"}, {"SLURM_STEP_GPUS", "4,5"}};
  EXPECT_EQ(bound(env, 8), "5");
  // No CUDA_VISIBLE_DEVICES (plain mpirun on a GPU node): the node's GPUs by index.
  EXPECT_EQ(bound({{"OMPI_COMM_WORLD_LOCAL_RANK", "2"}}, 4), "2");
  // More tasks than GPUs: ranks 0 and 2 share GPU 0, 1 and 3 share GPU 1.
  EXPECT_EQ(bound({{"SLURM_LOCALID", "2"}, {"CUDA_VISIBLE_DEVICES", "0,1"}}, 2), "0");
  EXPECT_EQ(bound({{"SLURM_LOCALID", "3"}, {"CUDA_VISIBLE_DEVICES", "0,1"}}, 2), "1");
}

TEST(GpuBinding, LauncherVariablesInOrder) {
  EXPECT_EQ(parse({}).local_rank, -1);
  EXPECT_EQ(parse({{"OMPI_COMM_WORLD_LOCAL_RANK", "3"}}).local_rank, 3);
  EXPECT_EQ(parse({{"MPI_LOCALRANKID", "2"}}).local_source, "MPI_LOCALRANKID");
  const LaunchEnv both = parse({{"SLURM_LOCALID", "1"}, {"OMPI_COMM_WORLD_LOCAL_RANK", "5"}});
  EXPECT_EQ(both.local_rank, 1);                                                       // srun's own variable first
  EXPECT_EQ(parse({{"SLURM_LOCALID", "x"}, {"MPI_LOCALRANKID", "4"}}).local_rank, 4);  // a bad value is skipped
  EXPECT_EQ(parse({{"SLURM_JOB_GPUS", "2"}}).slurm_gpus, "2");
  EXPECT_EQ(parse({{"SLURM_STEP_GPUS", "1"}, {"SLURM_JOB_GPUS", "0,1"}}).slurm_gpus, "1");
}

TEST(GpuBinding, CudaVisibleDevicesAsTheRuntimeReadsIt) {
  EXPECT_EQ(visible_gpus(parse({}), 3), 3);                                        // unset: every GPU
  EXPECT_EQ(visible_gpus(parse({{"CUDA_VISIBLE_DEVICES", ""}}), 3), 0);            // empty: none
  EXPECT_EQ(visible_gpus(parse({{"CUDA_VISIBLE_DEVICES", "-1"}}), 3), 0);          // stops at the first bad entry
  EXPECT_EQ(visible_gpus(parse({{"CUDA_VISIBLE_DEVICES", "NoDevFiles"}}), 3), 0);  // Slurm without GPUs
  EXPECT_EQ(visible_gpus(parse({{"CUDA_VISIBLE_DEVICES", "2, 0"}}), 3), 2);
  EXPECT_EQ(visible_gpus(parse({{"CUDA_VISIBLE_DEVICES", "0,7,1"}}), 3), 1);  // 7 does not exist
  EXPECT_EQ(visible_gpus(parse({{"CUDA_VISIBLE_DEVICES", "GPU-8a1b,MIG-3c"}}), 1), 2);
  EXPECT_EQ(physical_gpu(parse({{"CUDA_VISIBLE_DEVICES", "3,1"}}), 1), "1");
  EXPECT_EQ(physical_gpu(parse({}), 2), "2");
}

TEST(GpuBinding, RanksPerPhysicalGpu) {
  // Per-task binding: each rank's device 0 is another physical GPU, so nobody shares.
  EXPECT_EQ(ranks_per_device({"GPU-a", "GPU-b", "GPU-c"}), (std::vector<int>{1, 1, 1}));
  // Three ranks on one GPU (a workstation), and a CPU run.
  EXPECT_EQ(ranks_per_device({"GPU-a", "GPU-a", "GPU-a"}), (std::vector<int>{3, 3, 3}));
  EXPECT_EQ(ranks_per_device({"", ""}), (std::vector<int>{0, 0}));
  EXPECT_EQ(ranks_per_device({"GPU-a", "GPU-b", "GPU-a", "GPU-b", "GPU-a"}), (std::vector<int>{3, 2, 3, 2, 3}));
}

TEST(GpuBinding, CollectivesFollowTheSharing) {
  using C = Collectives;
  EXPECT_EQ(choose_collectives(C::Auto, true, 1, 1, true), "self");
  EXPECT_EQ(choose_collectives(C::Auto, false, 4, 0, true), "mpi");
  EXPECT_EQ(choose_collectives(C::Auto, true, 4, 1, true), "nccl");
  EXPECT_EQ(choose_collectives(C::Auto, true, 4, 2, true), "mpi");   // ranks share a GPU
  EXPECT_EQ(choose_collectives(C::Auto, true, 4, 1, false), "mpi");  // no NCCL in the build
  EXPECT_EQ(choose_collectives(C::Mpi, true, 4, 1, true), "mpi");
  EXPECT_EQ(choose_collectives(C::Nccl, true, 4, 1, true), "nccl");
  EXPECT_THROW(choose_collectives(C::Nccl, true, 3, 3, true), InputError);
  EXPECT_THROW(choose_collectives(C::Nccl, false, 2, 0, true), InputError);
  EXPECT_THROW(choose_collectives(C::Nccl, true, 2, 1, false), InputError);
  try {
    choose_collectives(C::Nccl, true, 3, 3, true);
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("runtime.communicator"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("3 ranks share one GPU"), std::string::npos) << e.what();
  }
}

// abort_job runs the live registrations, newest first, skips the ended ones, then exits with the
// code (no MPI in this process: no MPI_Abort).
TEST(JobAbortDeathTest, RunsTheRegisteredAbortsThenExits) {
  EXPECT_EXIT(
      {
        AbortRegistration first([] { std::fputs("first ", stderr); });
        {
          AbortRegistration gone([] { std::fputs("gone ", stderr); });
        }
        AbortRegistration second([] { std::fputs("second ", stderr); });
        abort_job(7);
      },
      ::testing::ExitedWithCode(7), "second first $");
}

}  // namespace
}  // namespace sp::dist
