#pragma once
// The hardware a device is, for records that must notice a change of it (the resume journal):
// "cpu", or the GPU's model name as the CUDA runtime reports it ("NVIDIA H100 80GB HBM3").
#include <string>

#include "core/device.h"

namespace sp {

std::string device_model(Device d);

}  // namespace sp
