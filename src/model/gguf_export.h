#pragma once
// A Hugging Face folder of the LLaMA family (llama / mistral / qwen2 layout; dense or pruned,
// per-layer shapes included) as one GGUF file that llama.cpp runs (docs/formats.md "GGUF"):
//  * every layer the same shape: llama.cpp's `llama` architecture;
//  * per-layer shapes: its `deci` architecture, whose attention.head_count, head_count_kv and
//    feed_forward_length are per-layer arrays. A layer with no heads left is attention-free there
//    (no attention tensors); a layer with neither heads nor MLP is skipped (but the last).
//    Where deci would lose what our model computes, a block of zeros stands in, exactly:
//    - a one-channel MLP of zeros for a layer that keeps attention but no MLP (deci ends a layer
//      whose feed_forward_length is 0 before adding its attention output), for an MLP-less layer
//      with a down_proj bias, and for an MLP-less last layer (deci selects the output rows there;
//      skipped, llama.cpp aborts);
//    - one attention head of zeros (output: exactly the o_proj bias, or 0) for a head-less layer 0
//      (llama.cpp reads the head size from layer 0's count) or a head-less layer with an o_proj bias.
// Q and K rows are permuted per head from Hugging Face's rotate-half layout to the interleaved
// pairs llama.cpp's LLaMA RoPE rotates. RoPE base, linear scaling (rope.scaling.*) and llama3
// scaling (a rope_freqs tensor of per-frequency divisors) go along; the tokenizer through
// model/gguf_vocab.h. Biases (q/k/v, o, gate/up/down: Qwen2-layout checkpoints, bias
// compensation) go to llama.cpp's optional bias tensors, which both architectures read. Refused by
// name (InputError, nothing written): OPT, phi3, an activation other than SiLU, dynamic / yarn /
// longrope RoPE.
#include <string>

#include "io/gguf_writer.h"

namespace sp::model {

// F32 / F16 / BF16 matrices; 1-D tensors (norms, biases, rope_freqs) stay F32 as llama.cpp's
// converter writes them.
io::GgufTensorType gguf_type_from_name(const std::string& name);  // "f32" | "f16" | "bf16"

struct GgufExportSummary {
  std::string architecture;  // "llama" or "deci"
  std::string tokenizer;     // "llama" or "gpt2"
  size_t tensors = 0;
  size_t keys = 0;
};

// Reads model_dir (config.json, safetensors, tokenizer files) and writes `out_path` atomically.
GgufExportSummary export_gguf(const std::string& model_dir, const std::string& out_path, io::GgufTensorType type);

}  // namespace sp::model
