#include <gtest/gtest.h>

#include "core/tensor.h"
#include "test_util.h"

namespace sp {

TEST(Tensor, ShapesViewsAndCopies) {
  Tensor t = Tensor::from_f32({1, 2, 3, 4, 5, 6}, {3, 2});
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(t.dim(-1), 2);
  Tensor r = t.slice_rows(1, 3);
  EXPECT_EQ(r.shape(), (Shape{2, 2}));
  EXPECT_EQ(r.data<float>()[0], 3.f);
  Tensor c = r.clone();
  c.data<float>()[0] = 42.f;
  EXPECT_EQ(t.data<float>()[2], 3.f);  // clone is deep
  EXPECT_EQ(t.reshape({6}).dim(0), 6);
  EXPECT_THROW(t.reshape({4}), RuntimeFailure);
  EXPECT_THROW(t.slice_rows(2, 4), RuntimeFailure);
}

TEST(Tensor, HostDeviceRoundTrip) {
  SP_REQUIRE_GPU();
  Tensor t = Tensor::from_f32({1.5f, -2.f, 3.25f}, {3});
  Tensor back = t.to(Device::cuda()).to(Device::cpu());
  EXPECT_EQ(back.to_f32_vector(), t.to_f32_vector());
}

TEST(Tensor, MemoryAccounting) {
  const auto before = memory_stats(DeviceType::CPU).current;
  {
    Tensor t = Tensor::empty({1024, 1024}, DType::F32);
    EXPECT_GE(memory_stats(DeviceType::CPU).current, before + 4u * 1024 * 1024);
  }
  EXPECT_EQ(memory_stats(DeviceType::CPU).current, before);
}

}  // namespace sp
