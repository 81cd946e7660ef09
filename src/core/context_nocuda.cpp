#include "core/context.h"
#include "core/device_model.h"
#include "core/device_timer.h"
#include "core/error.h"
#include "core/log.h"

namespace sp {

std::string device_model(Device d) {
  SP_CHECK(d.is_cpu(), "no CUDA device in a CPU-only build");
  return "cpu";
}

struct CudaState {};  // never created in a CPU-only build
void CudaStateDeleter::operator()(CudaState* s) const noexcept { delete s; }

ExecContext::ExecContext(Device d) : device_(d) {
  SP_REQUIRE(d.is_cpu(), "this binary was built without CUDA (-DSTRUPRUNE_CUDA=OFF); use device: cpu");
}
ExecContext::~ExecContext() = default;
void ExecContext::synchronize() {}
CudaState& ExecContext::cuda() const { SP_CHECK(false, "no CUDA state in a CPU-only build"); }
std::unique_ptr<CapturedWork> ExecContext::capture(const std::function<void()>&) {
  SP_CHECK(false, "no CUDA graphs in a CPU-only build");
}
CapturedWork::~CapturedWork() = default;
void CapturedWork::replay() { SP_CHECK(false, "no CUDA graphs in a CPU-only build"); }

DeviceTimer::~DeviceTimer() = default;
void DeviceTimer::start() { t0_ = wall_seconds(); }
void DeviceTimer::stop() { total_ += wall_seconds() - t0_; }
double DeviceTimer::seconds() { return total_; }

}  // namespace sp
