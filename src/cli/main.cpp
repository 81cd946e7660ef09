// struprune-dist entry point (skeleton; the CLI issue fills in config, subcommands, dry-run).
#include <cstdio>

#include "dist/mpi_communicator.h"
#include "struprune/version.h"

int main(int argc, char** argv) {
  sp::dist::MpiRuntime mpi(&argc, &argv);
  std::printf("struprune-dist %s\n", STRUPRUNE_VERSION);
  return 0;
}
