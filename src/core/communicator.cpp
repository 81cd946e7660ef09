#include "core/communicator.h"

#include "core/error.h"

namespace sp {

void Communicator::allreduce_sum(Tensor& t) {
  SP_CHECK(t.dtype() == DType::I64, "allreduce_sum(Tensor): I64 expected, got {}", dtype_name(t.dtype()));
  if (size() == 1 || t.numel() == 0) return;
  Tensor host = t.is_cpu() ? t : t.to(Device::cpu());
  allreduce_sum(std::span<int64_t>(host.data<int64_t>(), size_t(host.numel())));
  if (!t.is_cpu()) t.copy_from(host);
}

}  // namespace sp
