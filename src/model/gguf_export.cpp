#include "model/gguf_export.h"

#include <fmt/format.h>

#include <cstring>
#include <filesystem>
#include <memory>

#include "core/error.h"
#include "io/checkpoint.h"
#include "io/model_config.h"
#include "model/arch.h"
#include "model/gguf_vocab.h"
#include "model/rope.h"

namespace sp::model {
namespace {

using io::GgufTensorType;

// llama.cpp's tensor name of a role (gguf-py TENSOR_NAMES for LLM_ARCH_LLAMA / DECI); "" = not exported.
std::string gguf_name(Role r, int layer) {
  const auto blk = [layer](const char* s) { return fmt::format("blk.{}.{}", layer, s); };
  switch (r) {
    case Role::TokenEmbed:
      return "token_embd.weight";
    case Role::FinalNormWeight:
      return "output_norm.weight";
    case Role::LmHead:
      return "output.weight";
    case Role::AttnNormWeight:
      return blk("attn_norm.weight");
    case Role::QWeight:
      return blk("attn_q.weight");
    case Role::QBias:
      return blk("attn_q.bias");
    case Role::KWeight:
      return blk("attn_k.weight");
    case Role::KBias:
      return blk("attn_k.bias");
    case Role::VWeight:
      return blk("attn_v.weight");
    case Role::VBias:
      return blk("attn_v.bias");
    case Role::OWeight:
      return blk("attn_output.weight");
    case Role::OBias:
      return blk("attn_output.bias");
    case Role::MlpNormWeight:
      return blk("ffn_norm.weight");
    case Role::GateWeight:
      return blk("ffn_gate.weight");
    case Role::GateBias:
      return blk("ffn_gate.bias");
    case Role::UpWeight:
      return blk("ffn_up.weight");
    case Role::UpBias:
      return blk("ffn_up.bias");
    case Role::DownWeight:
      return blk("ffn_down.weight");
    case Role::DownBias:
      return blk("ffn_down.bias");
    default:
      return "";
  }
}

// Hugging Face applies RoPE to the two halves of each head (rotate_half); llama.cpp's LLaMA RoPE
// rotates adjacent pairs. Row j*(d/2) + i of a head (j = half, i = pair) moves to row 2i + j.
// Works on the rows of a [heads*d, cols] matrix or the entries of a [heads*d] bias (cols = 1).
std::vector<float> permute_rope_rows(const std::vector<float>& w, int64_t rows, int64_t cols, int head_dim) {
  std::vector<float> out(w.size());
  const int64_t half = head_dim / 2;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t head = r / head_dim, within = r % head_dim;
    const int64_t j = within / half, i = within % half;
    const int64_t dst = head * head_dim + 2 * i + j;
    std::memcpy(&out[size_t(dst * cols)], &w[size_t(r * cols)], size_t(cols) * sizeof(float));
  }
  return out;
}

std::vector<uint8_t> encode(const std::vector<float>& v, GgufTensorType t) {
  std::vector<uint8_t> out(v.size() * io::gguf_type_size(t));
  if (t == GgufTensorType::F32) {
    std::memcpy(out.data(), v.data(), out.size());
    return out;
  }
  auto* o = reinterpret_cast<uint16_t*>(out.data());
  for (size_t i = 0; i < v.size(); ++i) o[i] = t == GgufTensorType::F16 ? f32_to_f16(v[i]) : f32_to_bf16(v[i]);
  return out;
}

// ggml dims of a row-major Hugging Face shape: innermost first.
std::vector<uint64_t> ggml_dims(const Shape& s) { return {s.rbegin(), s.rend()}; }

void check_exportable(const io::ModelConfig& c, const std::string& where) {
  SP_REQUIRE(c.family == io::ArchFamily::Llama,
             "{}: model_type '{}' cannot be exported to GGUF: llama.cpp has no architecture for OPT or Gemma "
             "here; GGUF export covers the LLaMA family (llama, mistral, qwen2)",
             where, c.model_type);
  SP_REQUIRE(!c.qk_norm,
             "{}: model_type '{}' is not exported to GGUF: llama.cpp's llama / deci have no q_norm / k_norm", where,
             c.model_type);
  SP_REQUIRE(c.hidden_act == "silu", "{}: hidden_act '{}': llama.cpp's llama / deci MLP is SiLU-gated", where,
             c.hidden_act);
  using T = io::RopeScaling::Type;
  SP_REQUIRE(c.rope.type == T::kDefault || c.rope.type == T::kLinear || c.rope.type == T::kLlama3,
             "{}: rope_scaling rope_type '{}' is not exported to GGUF (exported: default, linear, llama3)", where,
             c.rope.name);
  SP_REQUIRE(c.head_dim % 2 == 0, "{}: head_dim {} must be even for RoPE", where, c.head_dim);
  for (size_t l = 0; l < c.layers.size(); ++l)
    SP_REQUIRE(!(c.layers[l].n_heads > 0 && c.layers[l].n_kv_heads == 0),
               "{}: layer {} has {} query heads but no KV heads", where, l, c.layers[l].n_heads);
}

}  // namespace

GgufTensorType gguf_type_from_name(const std::string& name) {
  if (name == "f32") return GgufTensorType::F32;
  if (name == "f16") return GgufTensorType::F16;
  if (name == "bf16") return GgufTensorType::BF16;
  throw_input("GGUF tensor type '{}' is not one of f32, f16, bf16", name);
}

GgufExportSummary export_gguf(const std::string& model_dir, const std::string& out_path, GgufTensorType type) {
  namespace fs = std::filesystem;
  const std::string config_path = (fs::path(model_dir) / "config.json").string();
  const io::ModelConfig c = io::load_model_config(config_path);
  check_exportable(c, config_path);
  const Arch& arch = llama_arch();

  // Per-layer widths as llama.cpp will build them. Where deci would drop something our model adds,
  // a block of zeros stands in (see the header): one attention head (zero q/k/v/o: its output is
  // exactly o_proj's bias, or 0) for a head-less layer 0 (llama.cpp reads the head size from layer
  // 0's count) or a head-less layer with an o_proj bias; one MLP channel (zero gate/up/down: exactly
  // down_proj's bias, or 0) for an MLP-less layer that keeps attention, has a down_proj bias, or is
  // the last layer (deci picks the output rows inside the last layer; skipped, it crashes).
  std::vector<int32_t> heads, kv_heads, ffn;
  std::vector<bool> zero_attn, zero_mlp;
  for (size_t l = 0; l < c.layers.size(); ++l) {
    const io::LayerShape& s = c.layers[l];
    zero_attn.push_back(s.n_heads == 0 && (l == 0 || c.o_bias));
    const bool has_attn = s.n_heads > 0 || zero_attn.back();
    const bool last = l + 1 == c.layers.size();  // deci gathers the output rows in the last layer's MLP
    zero_mlp.push_back(s.intermediate == 0 && (has_attn || c.mlp_bias || last));
    heads.push_back(zero_attn.back() ? 1 : s.n_heads);
    kv_heads.push_back(zero_attn.back() ? 1 : s.n_kv_heads);
    ffn.push_back(zero_mlp.back() ? 1 : s.intermediate);
  }
  const bool uniform = c.uniform() && c.layers.front().n_heads > 0 && c.layers.front().intermediate > 0;
  const std::string a = uniform ? "llama" : "deci";
  const auto key = [&a](const char* k) { return a + "." + k; };

  io::GgufWriter w;
  w.add_string("general.architecture", a);
  w.add_string("general.name", fs::path(model_dir).lexically_normal().filename().string().empty()
                                   ? fs::path(model_dir).lexically_normal().parent_path().filename().string()
                                   : fs::path(model_dir).lexically_normal().filename().string());
  w.add_u32("general.file_type", type == GgufTensorType::F32 ? 0 : type == GgufTensorType::F16 ? 1 : 32);
  w.add_u32(key("vocab_size"), uint32_t(c.vocab));
  w.add_u32(key("context_length"), uint32_t(c.max_positions));
  w.add_u32(key("embedding_length"), uint32_t(c.hidden));
  w.add_u32(key("block_count"), uint32_t(c.n_layers));
  if (uniform) {
    w.add_u32(key("feed_forward_length"), uint32_t(ffn.front()));
    w.add_u32(key("attention.head_count"), uint32_t(heads.front()));
    w.add_u32(key("attention.head_count_kv"), uint32_t(kv_heads.front()));
  } else {
    w.add_i32_array(key("feed_forward_length"), ffn);
    w.add_i32_array(key("attention.head_count"), heads);
    w.add_i32_array(key("attention.head_count_kv"), kv_heads);
  }
  w.add_u32(key("attention.key_length"), uint32_t(c.head_dim));
  w.add_u32(key("attention.value_length"), uint32_t(c.head_dim));
  w.add_u32(key("rope.dimension_count"), uint32_t(c.head_dim));
  w.add_f32(key("rope.freq_base"), float(c.rope_base));
  w.add_f32(key("attention.layer_norm_rms_epsilon"), c.norm_eps);
  if (c.rope.type == io::RopeScaling::Type::kLinear) {
    w.add_string(key("rope.scaling.type"), "linear");
    w.add_f32(key("rope.scaling.factor"), float(c.rope.factor));
  }
  const GgufVocabSummary vocab = add_gguf_vocab(w, model_dir, c);

  std::shared_ptr<io::Checkpoint> ckpt = io::Checkpoint::open(model_dir);
  // A stored tensor, converted; Q and K rows permuted for llama.cpp's RoPE.
  const auto add_stored = [&](const TensorSpec& s, const std::string& name) {
    const bool rope_rows =
        s.role == Role::QWeight || s.role == Role::KWeight || s.role == Role::QBias || s.role == Role::KBias;
    const GgufTensorType t = s.shape.size() == 1 ? GgufTensorType::F32 : type;
    ckpt->info(s.name);  // a missing tensor fails now, by name, before anything is written
    w.add_tensor(name, ggml_dims(s.shape), t, [ckpt, s, t, rope_rows, hd = c.head_dim]() {
      std::vector<float> v = ckpt->load(s.name, DType::F32, Device::cpu(), s.shape).to_f32_vector();
      if (rope_rows) v = permute_rope_rows(v, s.shape[0], s.shape.size() == 2 ? s.shape[1] : 1, hd);
      return encode(v, t);
    });
  };
  const auto add_zeros = [&](const std::string& name, std::vector<uint64_t> ne) {
    const GgufTensorType t = ne.size() == 1 ? GgufTensorType::F32 : type;
    size_t n = 1;
    for (const uint64_t d : ne) n *= size_t(d);
    w.add_tensor(name, std::move(ne), t, [n, t]() { return std::vector<uint8_t>(n * io::gguf_type_size(t), 0); });
  };

  for (const TensorSpec& s : arch.global_specs(c)) add_stored(s, gguf_name(s.role, -1));
  if (c.rope.type == io::RopeScaling::Type::kLlama3) {
    // ggml divides each frequency by its factor: factor = default inv_freq / llama3 inv_freq.
    io::ModelConfig plain = c;
    plain.rope = io::RopeScaling{};
    const RopeTable base = rope_table(plain), scaled = rope_table(c);
    std::vector<float> factors(base.inv_freq.size());
    for (size_t i = 0; i < factors.size(); ++i) factors[i] = float(base.inv_freq[i] / scaled.inv_freq[i]);
    w.add_tensor("rope_freqs.weight", {uint64_t(factors.size())}, GgufTensorType::F32,
                 [factors]() { return encode(factors, GgufTensorType::F32); });
  }
  for (int l = 0; l < c.n_layers; ++l) {
    const io::LayerShape& s = c.layers[size_t(l)];
    for (const TensorSpec& t : arch.layer_specs(c, l)) {
      if (t.role == Role::AttnNormWeight && s.n_heads == 0 && !zero_attn[size_t(l)]) continue;  // no attention
      if (t.role == Role::MlpNormWeight && s.intermediate == 0 && !zero_mlp[size_t(l)]) continue;
      const std::string name = gguf_name(t.role, l);
      SP_REQUIRE(!name.empty(), "{}: tensor {} has no GGUF counterpart", model_dir, t.name);
      add_stored(t, name);
    }
    const uint64_t h = uint64_t(c.hidden), hd = uint64_t(c.head_dim);
    if (zero_attn[size_t(l)]) {
      for (const char* m : {"attn_q", "attn_k", "attn_v"}) {
        add_zeros(fmt::format("blk.{}.{}.weight", l, m), {h, hd});
        if (c.qkv_bias) add_zeros(fmt::format("blk.{}.{}.bias", l, m), {hd});
      }
      add_zeros(fmt::format("blk.{}.attn_output.weight", l), {hd, h});
    }
    if (zero_mlp[size_t(l)]) {
      add_zeros(fmt::format("blk.{}.ffn_gate.weight", l), {h, 1});
      add_zeros(fmt::format("blk.{}.ffn_up.weight", l), {h, 1});
      add_zeros(fmt::format("blk.{}.ffn_down.weight", l), {1, h});
    }
  }
  w.write(out_path);
  return {a, vocab.model, w.tensor_count(), w.kv_count()};
}

}  // namespace sp::model
