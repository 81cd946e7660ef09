#include "core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <chrono>
#include <memory>

#include "core/error.h"

namespace sp {
namespace {

std::shared_ptr<spdlog::logger>& logger_slot() {
  static std::shared_ptr<spdlog::logger> l;
  return l;
}

spdlog::level::level_enum to_spdlog(LogLevel l) {
  switch (l) {
    case LogLevel::Trace:
      return spdlog::level::trace;
    case LogLevel::Debug:
      return spdlog::level::debug;
    case LogLevel::Info:
      return spdlog::level::info;
    case LogLevel::Warn:
      return spdlog::level::warn;
    case LogLevel::Error:
      return spdlog::level::err;
    case LogLevel::Off:
      return spdlog::level::off;
  }
  return spdlog::level::info;
}

}  // namespace

LogLevel parse_log_level(const std::string& name) {
  if (name == "trace") return LogLevel::Trace;
  if (name == "debug") return LogLevel::Debug;
  if (name == "info") return LogLevel::Info;
  if (name == "warn") return LogLevel::Warn;
  if (name == "error") return LogLevel::Error;
  if (name == "off") return LogLevel::Off;
  throw_input("unknown log level '{}' (expected trace, debug, info, warn, error or off)", name);
}

void log_init(int rank, int size, LogLevel level, bool all_ranks_info) {
  auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  auto l = std::make_shared<spdlog::logger>("struprune", sink);
  l->set_pattern(fmt::format("[%H:%M:%S.%e] [rank {}/{}] [%^%l%$] %v", rank, size));
  // Non-zero ranks stay quiet below WARN unless asked, so logs do not repeat P times.
  LogLevel eff = level;
  if (rank != 0 && !all_ranks_info && level < LogLevel::Warn) eff = LogLevel::Warn;
  l->set_level(to_spdlog(eff));
  l->flush_on(spdlog::level::warn);
  logger_slot() = l;
}

spdlog::logger& logger() {
  auto& l = logger_slot();
  if (!l) log_init(0, 1, LogLevel::Info);
  return *l;
}

double wall_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

Progress::Progress(std::string phase, long total) : phase_(std::move(phase)), total_(total), start_s_(wall_seconds()) {}

void Progress::step(long done) {
  const double now = wall_seconds();
  if (last_print_s_ >= 0 && now - last_print_s_ < 2.0 && done < total_) return;
  last_print_s_ = now;
  const double el = now - start_s_;
  const double eta = done > 0 ? el * double(total_ - done) / double(done) : 0.0;
  SP_LOG_INFO("{}: {}/{} ({:.0f}%) elapsed {:.1f}s, eta {:.1f}s", phase_, done, total_,
              total_ > 0 ? 100.0 * double(done) / double(total_) : 100.0, el, eta);
}

void Progress::finish() { SP_LOG_INFO("{}: done in {:.2f}s", phase_, wall_seconds() - start_s_); }

}  // namespace sp
