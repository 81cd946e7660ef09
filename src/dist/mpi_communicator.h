#pragma once
// MPI runtime + the MPI implementation of Communicator (the CPU collective path).
#include <memory>

#include "core/communicator.h"

namespace sp::dist {

// RAII MPI_Init_thread / MPI_Finalize. Works as a single process without mpirun.
class MpiRuntime {
 public:
  MpiRuntime(int* argc, char*** argv);
  ~MpiRuntime();
  MpiRuntime(const MpiRuntime&) = delete;
  MpiRuntime& operator=(const MpiRuntime&) = delete;
};

// Communicator over MPI_COMM_WORLD. Sums are computed in rank order on every rank (allgather,
// then a fixed-order fold) so that results are bitwise identical whatever MPI's reduction tree.
std::unique_ptr<Communicator> make_mpi_communicator();

// Rank of this process on its node (for picking a GPU), from MPI's shared-memory split.
int local_rank();

}  // namespace sp::dist
