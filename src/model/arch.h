#pragma once
// Architectures are data: per model family, a table from tensor role to Hugging Face tensor name
// and expected shape (from ModelConfig and the layer's own LayerShape, so pruned per-layer shapes
// are first-class), plus the family's decoder-layer forward. One file per family (arch_llama.cpp,
// arch_opt.cpp, arch_gemma.cpp); arch_for() is the registry keyed by io::ArchFamily.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/context.h"
#include "core/enum_names.h"
#include "core/tensor.h"
#include "io/model_config.h"
#include "model/layer_weights.h"
#include "model/rope.h"

namespace sp::model {

struct TensorSpec {
  Role role;
  std::string name;  // Hugging Face name, e.g. "model.layers.3.self_attn.q_proj.weight"
  Shape shape;       // the role's own shape
  // A role stored inside a fused tensor (Phi-3's qkv_proj, gate_up_proj): rows
  // [row0, row0 + shape[0]) of `name`, which has fused_rows rows. 0: `name` is the role's alone.
  int64_t row0 = 0;
  int64_t fused_rows = 0;

  bool fused() const { return fused_rows > 0; }
  Shape stored_shape() const;  // the shape of `name` in the checkpoint
};

// One tensor as a checkpoint stores it: a fused tensor once, with its roles in row order.
struct StoredTensor {
  std::string name;
  Shape shape;
  std::vector<const TensorSpec*> parts;  // rows of `name` in order (one part: the role's own tensor)
};
// specs grouped by stored name, in the order of their first part (specs must outlive the result).
std::vector<StoredTensor> stored_tensors(const std::vector<TensorSpec>& specs);

// The activations a decoder layer shows its Tap, in the order the layer produces them; the table
// spells them in errors and logs.
enum class TapPoint {
  AttnIn,     // the input of q/k/v
  AttnOIn,    // the input of o_proj / out_proj
  MidResid,   // the residual stream between the attention and MLP blocks (a forward stopped here
              // can be continued: LayerCall::from_mid)
  MlpIn,      // the input of gate/up or fc1
  MlpDownIn,  // the input of down_proj / fc2
  LayerOut,   // the layer's output
};
inline constexpr EnumName<TapPoint> kTapPointNames[] = {
    {TapPoint::AttnIn, "attn_in"}, {TapPoint::AttnOIn, "attn_o_in"},     {TapPoint::MidResid, "mid_resid"},
    {TapPoint::MlpIn, "mlp_in"},   {TapPoint::MlpDownIn, "mlp_down_in"}, {TapPoint::LayerOut, "layer_out"}};
inline const char* to_string(TapPoint t) { return enum_name<TapPoint>(kTapPointNames, t); }

// Observer of the activations at every TapPoint. x: [batch*seq, width], compute dtype, context
// device; valid only during the call.
using Tap = std::function<void(int layer, TapPoint at, const Tensor& x)>;

// Keys and values of one layer for incremental decoding. k, v: [batch * capacity, n_kv * head_dim]
// compute dtype, device; rows [b*capacity, b*capacity + len) hold window b's past tokens. New rows
// go where the forward's positions say (ops::kv_cache_write_), and the attention reads each window's
// length from them too.
struct LayerKvCache {
  Tensor k, v;
  int capacity = 0;
  int len = 0;
  // The forward is being recorded for replay at later positions (model/decode_loop.h): `len` is
  // neither checked nor advanced by it, and the attention is bounded by `capacity` only.
  bool recorded = false;
};

// Everything one decoder-layer forward needs. hidden: [batch*seqlen, hidden] compute dtype,
// updated in place; positions: [batch*seqlen] I32 device (token positions, 0-based).
struct LayerCall {
  ExecContext& ctx;
  const io::ModelConfig& cfg;
  Precision precision;
  int layer;
  const LayerWeights& w;
  Tensor& hidden;
  const Tensor& positions;
  int batch;
  int seqlen;
  const Tap* tap;       // may be null
  LayerKvCache* cache;  // null: plain causal windows
  // The forward ends right after this tap has seen its activation (none: run the whole layer);
  // statistics that need only the start of a layer skip the rest. `hidden` is then partial.
  std::optional<TapPoint> stop_after;
  // The model's RoPE tables (null: computed for this call); RopeTables::for_call picks the layer's.
  const RopeTables* rope = nullptr;
  // hidden already holds the residual after the attention block (TapPoint::MidResid of this
  // layer, same weights): the forward runs the MLP block only.
  bool from_mid = false;
};

struct Arch {
  io::ArchFamily family;
  const char* name;  // "llama", "opt", "gemma"
  std::vector<TensorSpec> (*global_specs)(const io::ModelConfig& c);
  std::vector<TensorSpec> (*layer_specs)(const io::ModelConfig& c, int layer);
  // Name suffixes a checkpoint may hold that the engine deliberately does not use.
  std::vector<std::string> ignored_suffixes;
  void (*forward_layer)(const LayerCall& call);
  // Token (+ learned position) embedding. ids, positions: [T] I32 device -> [T, hidden].
  Tensor (*embed)(ExecContext& ctx, const io::ModelConfig& c, const GlobalWeights& g, const Tensor& ids,
                  const Tensor& positions);
};

// Table pieces the LLaMA-layout families share (arch_llama.cpp): the embedding, final norm and
// (untied) LM head; and a layer's separate q/k/v/o projections (+ biases, per-head q/k norms) and
// gate/up/down MLP (+ biases), each block only when the layer has heads / neurons left.
std::vector<TensorSpec> decoder_global_specs(const io::ModelConfig& c);
void append_separate_projections(const io::ModelConfig& c, int layer, std::vector<TensorSpec>& specs);

const Arch& llama_arch();
const Arch& opt_arch();
const Arch& gemma_arch();
const Arch& arch_for(const io::ModelConfig& c);  // throws InputError naming model_type if none

}  // namespace sp::model
