#pragma once
// One fmt-based logger (spdlog) with a "[rank r/P]" prefix. Only rank 0 prints INFO by default;
// every rank prints warnings and errors. Call log_init once after the communicator exists.
#include <spdlog/spdlog.h>

#include <string>

namespace sp {

enum class LogLevel { Trace, Debug, Info, Warn, Error, Off };

LogLevel parse_log_level(const std::string& name);  // throws InputError on an unknown name
void log_init(int rank, int size, LogLevel level, bool all_ranks_info = false);
spdlog::logger& logger();

// Progress line for long phases: "phase: i/n (pct) elapsed, eta", rate-limited.
class Progress {
 public:
  Progress(std::string phase, long total);
  void step(long done);
  void finish();

 private:
  std::string phase_;
  long total_;
  double start_s_;
  double last_print_s_ = -1.0;
};

double wall_seconds();  // monotonic clock

}  // namespace sp

#define SP_LOG_TRACE(...) ::sp::logger().trace(__VA_ARGS__)
#define SP_LOG_DEBUG(...) ::sp::logger().debug(__VA_ARGS__)
#define SP_LOG_INFO(...) ::sp::logger().info(__VA_ARGS__)
#define SP_LOG_WARN(...) ::sp::logger().warn(__VA_ARGS__)
#define SP_LOG_ERROR(...) ::sp::logger().error(__VA_ARGS__)
