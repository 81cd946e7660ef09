#pragma once
// Error kinds, one exit path (see docs/architecture.md "Errors"; the exit statuses in docs/cli.md):
//  * InputError  - the user's input is wrong (file, field, shape). Message names the culprit. Exit 2.
//  * RuntimeFailure - a library or invariant failed (CUDA, MPI, HDF5, a bug). Carries the statement. Exit 1.
//  * IoError - the environment failed, not the input: a full disk, an I/O error; names the path (and
//    the bytes needed when known). Exit 74 (EX_IOERR).
//  * BusyError - another live run holds the output folder; retrying later may succeed. Exit 75 (EX_TEMPFAIL).
// main() catches them, logs with the rank and ends the job with MPI_Abort so no peer hangs.
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace sp {

class InputError : public std::runtime_error {
 public:
  explicit InputError(const std::string& msg) : std::runtime_error(msg) {}
};

class RuntimeFailure : public std::runtime_error {
 public:
  explicit RuntimeFailure(const std::string& msg) : std::runtime_error(msg) {}
};

class IoError : public RuntimeFailure {
 public:
  explicit IoError(const std::string& msg) : RuntimeFailure(msg) {}
};

class BusyError : public std::runtime_error {
 public:
  explicit BusyError(const std::string& msg) : std::runtime_error(msg) {}
};

template <typename... Args>
[[noreturn]] void throw_input(fmt::format_string<Args...> f, Args&&... args) {
  throw InputError(fmt::format(f, std::forward<Args>(args)...));
}

[[noreturn]] void throw_failure(const char* file, int line, const std::string& what);

}  // namespace sp

// Invariant check: a false condition is a bug or a library failure, not a user mistake.
#define SP_CHECK(cond, ...)                                                                                           \
  do {                                                                                                                \
    if (!(cond))                                                                                                      \
      ::sp::throw_failure(__FILE__, __LINE__, std::string("check failed: " #cond ". ") + ::fmt::format(__VA_ARGS__)); \
  } while (0)

// User-input check: a false condition throws InputError with the formatted message.
#define SP_REQUIRE(cond, ...)                    \
  do {                                           \
    if (!(cond)) ::sp::throw_input(__VA_ARGS__); \
  } while (0)
