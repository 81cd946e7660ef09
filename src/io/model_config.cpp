#include "io/model_config.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <string_view>
#include <tuple>
#include <utility>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/hf_remote_code.h"

namespace sp::io {
namespace {

using nlohmann::json;

// Field readers: a missing or null field gives the default (or an error when required); a
// present field of the wrong type is always an error naming the file and the field.
const json* field(const json& j, const char* name) {
  auto it = j.find(name);
  return (it == j.end() || it->is_null()) ? nullptr : &*it;
}

// Upper bounds of the size fields (issue 25): the engine keeps sizes in int and multiplies them
// (heads x head_dim, rows x columns in int64), so each is bounded well inside what that holds.
// Far above any released model: hidden 2^20 (the largest have ~2^14), 2^16 layers or heads, a
// vocabulary or context of 2^24.
constexpr int kMaxWidth = 1 << 20, kMaxCount = 1 << 16, kMaxLength = 1 << 24;

int max_of(const char* name) {
  static const std::pair<const char*, int> kBounds[] = {{"hidden_size", kMaxWidth},
                                                        {"intermediate_size", kMaxWidth},
                                                        {"ffn_dim", kMaxWidth},
                                                        {"head_dim", kMaxWidth},
                                                        {"word_embed_proj_dim", kMaxWidth},
                                                        {"num_hidden_layers", kMaxCount},
                                                        {"num_attention_heads", kMaxCount},
                                                        {"num_key_value_heads", kMaxCount},
                                                        {"vocab_size", kMaxLength},
                                                        {"max_position_embeddings", kMaxLength},
                                                        {"sliding_window", kMaxLength},
                                                        {"original_max_position_embeddings", kMaxLength}};
  for (const auto& [n, m] : kBounds)
    if (std::string_view(n) == name) return m;
  return std::numeric_limits<int>::max();
}

int get_int(const json& j, const char* name, const std::string& label, const int* dflt = nullptr) {
  const json* v = field(j, name);
  if (!v) {
    SP_REQUIRE(dflt != nullptr, "{}: missing required field '{}'", label, name);
    return *dflt;
  }
  SP_REQUIRE(v->is_number_integer() || (v->is_number_float() && std::floor(v->get<double>()) == v->get<double>()),
             "{}: field '{}' must be an integer, got {}", label, name, v->dump());
  const double d = v->get<double>();  // exact for every value in range; beyond, only compared
  const int hi = max_of(name);
  SP_REQUIRE(d >= double(std::numeric_limits<int>::min()) && d <= double(hi),
             "{}: field '{}' is out of range: {} (at most {})", label, name, v->dump(), hi);
  return int(d);
}

int get_int(const json& j, const char* name, const std::string& label, int dflt) {
  return get_int(j, name, label, &dflt);
}

int get_positive(const json& j, const char* name, const std::string& label, const int* dflt = nullptr) {
  const int v = get_int(j, name, label, dflt);
  SP_REQUIRE(v > 0, "{}: field '{}' must be positive, got {}", label, name, v);
  return v;
}

int get_positive(const json& j, const char* name, const std::string& label, int dflt) {
  return get_positive(j, name, label, &dflt);
}

// A stock size field (heads, KV heads, MLP width). With "struprune_layers" it holds the per-layer
// maximum, which is 0 when pruning removed that part from every layer; otherwise it must be positive.
int get_stock_size(const json& j, const char* name, const std::string& label, const int* dflt = nullptr) {
  if (field(j, "struprune_layers") == nullptr) return get_positive(j, name, label, dflt);
  const int v = get_int(j, name, label, dflt);
  SP_REQUIRE(v >= 0, "{}: field '{}' must not be negative, got {}", label, name, v);
  return v;
}

double get_number(const json& j, const char* name, const std::string& label, double dflt) {
  const json* v = field(j, name);
  if (!v) return dflt;
  SP_REQUIRE(v->is_number(), "{}: field '{}' must be a number, got {}", label, name, v->dump());
  return v->get<double>();
}

bool get_bool(const json& j, const char* name, const std::string& label, bool dflt) {
  const json* v = field(j, name);
  if (!v) return dflt;
  SP_REQUIRE(v->is_boolean(), "{}: field '{}' must be true or false, got {}", label, name, v->dump());
  return v->get<bool>();
}

std::string get_string(const json& j, const char* name, const std::string& label, const std::string& dflt) {
  const json* v = field(j, name);
  if (!v) return dflt;
  SP_REQUIRE(v->is_string(), "{}: field '{}' must be a string, got {}", label, name, v->dump());
  return v->get<std::string>();
}

// bos/eos: an int, a list (the first id is used), or null/absent (-1).
int get_token_id(const json& j, const char* name, const std::string& label) {
  const json* v = field(j, name);
  if (!v) return -1;
  if (v->is_array()) {
    if (v->empty()) return -1;
    json one = {{name, (*v)[0]}};
    return get_int(one, name, label, -1);
  }
  return get_int(j, name, label, -1);
}

DType weight_dtype(const json& j, const std::string& label) {
  std::string s = get_string(j, "dtype", label, "");
  if (s.empty()) s = get_string(j, "torch_dtype", label, "float32");
  if (s == "bfloat16") return DType::BF16;
  if (s == "float16") return DType::F16;
  if (s == "float64") return DType::F64;
  return DType::F32;  // informational only: the tensors' own dtypes decide
}

// rope_scaling (transformers 4: "type" or "rope_type") or rope_parameters (transformers 5, which
// also holds rope_theta); rope_parameters wins when both are given, as transformers 5 reads it.
void parse_rope_scaling(const json& rp, const std::string& where, const ModelConfig& c, RopeScaling& r) {
  using T = RopeScaling::Type;
  std::string type = get_string(rp, "rope_type", where, "");
  if (type.empty()) type = get_string(rp, "type", where, "default");
  r.name = type;
  if (type == "default") {
    r.type = T::kDefault;
    return;
  }
  const double factor = get_number(rp, "factor", where, -1.0);
  SP_REQUIRE(factor == -1.0 || factor > 0, "{}: field 'factor' must be positive, got {}", where, factor);
  r.original_max_positions = get_int(rp, "original_max_position_embeddings", where, 0);
  SP_REQUIRE(r.original_max_positions >= 0, "{}: field 'original_max_position_embeddings' must be positive", where);
  auto need_factor = [&] {
    SP_REQUIRE(factor > 0, "{}: missing required field 'factor' for rope_type '{}'", where, type);
    return factor;
  };
  if (type == "linear" || type == "dynamic") {
    r.type = type == "linear" ? T::kLinear : T::kDynamic;
    r.factor = need_factor();
  } else if (type == "llama3") {
    r.type = T::kLlama3;
    r.factor = need_factor();
    SP_REQUIRE(field(rp, "low_freq_factor") && field(rp, "high_freq_factor") && r.original_max_positions > 0,
               "{}: rope_type 'llama3' needs 'low_freq_factor', 'high_freq_factor' and "
               "'original_max_position_embeddings'",
               where);
    r.low_freq_factor = get_number(rp, "low_freq_factor", where, 1.0);
    r.high_freq_factor = get_number(rp, "high_freq_factor", where, 4.0);
    SP_REQUIRE(r.low_freq_factor > 0 && r.high_freq_factor > r.low_freq_factor,
               "{}: rope_type 'llama3' needs 0 < low_freq_factor < high_freq_factor, got {} and {}", where,
               r.low_freq_factor, r.high_freq_factor);
  } else if (type == "yarn") {
    r.type = T::kYarn;
    if (r.original_max_positions == 0) r.original_max_positions = c.max_positions;
    // transformers 5: an absent factor is max_position_embeddings / original_max_position_embeddings.
    r.factor = factor > 0 ? factor : double(c.max_positions) / r.original_max_positions;
    r.attention_factor = get_number(rp, "attention_factor", where, -1.0);
    SP_REQUIRE(r.attention_factor == -1.0 || r.attention_factor > 0, "{}: field 'attention_factor' must be positive",
               where);
    // transformers reads these with `or`: 0 / null mean the default.
    r.beta_fast = get_number(rp, "beta_fast", where, 0.0);
    r.beta_slow = get_number(rp, "beta_slow", where, 0.0);
    if (r.beta_fast == 0) r.beta_fast = 32.0;
    if (r.beta_slow == 0) r.beta_slow = 1.0;
    SP_REQUIRE(r.beta_fast > 0 && r.beta_slow > 0, "{}: fields 'beta_fast' and 'beta_slow' must be positive", where);
    r.mscale = get_number(rp, "mscale", where, 0.0);
    r.mscale_all_dim = get_number(rp, "mscale_all_dim", where, 0.0);
    r.truncate = get_bool(rp, "truncate", where, true);
  } else {
    throw_input("{}: rope_type '{}' is not supported (supported: default, linear, dynamic, llama3, yarn)", where, type);
  }
}

void parse_rope(const json& j, const std::string& label, ModelConfig& c) {
  double theta = get_number(j, "rope_theta", label, 10000.0);
  const json* rp = field(j, "rope_parameters");
  std::string where = label + " rope_parameters";
  if (rp == nullptr) {
    rp = field(j, "rope_scaling");
    where = label + " rope_scaling";
  }
  double partial = get_number(j, "partial_rotary_factor", label, 1.0);
  if (rp != nullptr) {
    SP_REQUIRE(rp->is_object(), "{}: must be an object", where);
    theta = get_number(*rp, "rope_theta", where, theta);
    partial = get_number(*rp, "partial_rotary_factor", where, partial);
    parse_rope_scaling(*rp, where, c, c.rope);
  }
  SP_REQUIRE(partial == 1.0, "{}: field 'partial_rotary_factor' is {}: only full rotary embeddings are supported",
             label, partial);
  SP_REQUIRE(theta > 0, "{}: field 'rope_theta' must be positive, got {}", label, theta);
  c.rope_theta = float(theta);
  c.rope_base = theta;
}

// ModelConfig::layer_window from `layer_types` (transformers 5; wins when present) or, without it,
// default_sliding(i). A sliding layer needs c.sliding_window > 0 (transformers cannot build its mask
// otherwise). Families with per-layer windows (qwen2, qwen3, gemma) call this after setting
// c.sliding_window; others leave every layer at c.sliding_window.
void set_layer_windows(const json& j, const std::string& label, ModelConfig& c,
                       const std::function<bool(int)>& default_sliding) {
  c.layer_window.assign(size_t(c.n_layers), 0);
  const json* types = field(j, "layer_types");
  SP_REQUIRE(!types || (types->is_array() && int(types->size()) == c.n_layers),
             "{}: field 'layer_types' must be a list of {} entries ('num_hidden_layers'), got {}", label, c.n_layers,
             types ? types->dump() : "");
  for (int i = 0; i < c.n_layers; ++i) {
    bool sliding = false;
    if (types) {
      const json& t = (*types)[size_t(i)];
      SP_REQUIRE(t.is_string() && (t == "sliding_attention" || t == "full_attention"),
                 "{}: field 'layer_types' entry {} is {}: supported are \"sliding_attention\" and \"full_attention\"",
                 label, i, t.dump());
      sliding = t == "sliding_attention";
    } else {
      sliding = default_sliding(i);
    }
    SP_REQUIRE(!sliding || c.sliding_window > 0,
               "{}: layer {} is a sliding_attention layer but no 'sliding_window' is set (or 'use_sliding_window' is "
               "false)",
               label, i);
    if (sliding) c.layer_window[size_t(i)] = c.sliding_window;
  }
}

// sliding_window as a window in tokens: absent gives `absent` (the config class's default), null 0.
int sliding_window_field(const json& j, const std::string& label, int absent) {
  if (j.find("sliding_window") == j.end()) return absent;
  return field(j, "sliding_window") ? get_positive(j, "sliding_window", label) : 0;
}

void parse_llama_family(const json& j, const std::string& label, ModelConfig& c, int* heads, int* kv, int* inter) {
  const std::string& mt = c.model_type;
  c.family = ArchFamily::Llama;
  c.hidden = get_positive(j, "hidden_size", label);
  c.n_layers = get_positive(j, "num_hidden_layers", label);
  c.vocab = get_positive(j, "vocab_size", label);
  c.max_positions = get_positive(j, "max_position_embeddings", label);
  *heads = get_stock_size(j, "num_attention_heads", label);
  *kv = get_stock_size(j, "num_key_value_heads", label, heads);
  *inter = get_stock_size(j, "intermediate_size", label);
  if (field(j, "head_dim")) {
    c.head_dim = get_positive(j, "head_dim", label);
  } else if (mt == "qwen3") {
    c.head_dim = 128;  // Qwen3Config's default, not hidden_size / num_attention_heads
  } else {
    SP_REQUIRE(*heads > 0 && c.hidden % *heads == 0,
               "{}: field 'num_attention_heads' ({}) does not divide 'hidden_size' ({}) and 'head_dim' is absent",
               label, *heads, c.hidden);
    c.head_dim = c.hidden / *heads;
  }
  // RoPE rotates pairs of a head's dimensions: an odd head_dim is no Llama-family model.
  SP_REQUIRE(c.head_dim % 2 == 0, "{}: 'head_dim' is {} ({}): rotary embeddings need an even head dimension", label,
             c.head_dim, field(j, "head_dim") ? "field 'head_dim'" : "'hidden_size' / 'num_attention_heads'");
  c.hidden_act = get_string(j, "hidden_act", label, "silu");
  SP_REQUIRE(c.hidden_act == "silu", "{}: field 'hidden_act' is '{}': only 'silu' is supported for {}", label,
             c.hidden_act, mt);
  c.norm_eps = float(get_number(j, "rms_norm_eps", label, 1e-6));
  SP_REQUIRE(c.norm_eps > 0, "{}: field 'rms_norm_eps' must be positive", label);
  parse_rope(j, label, c);
  c.tie_embeddings = get_bool(j, "tie_word_embeddings", label, false);
  c.norm_before = true;
  c.position_offset = 0;
  if (mt == "qwen2") {
    // Qwen2 always has q/k/v biases and no o_proj/MLP biases (attention_bias is not read).
    c.qkv_bias = true;
    c.o_bias = false;
    c.mlp_bias = false;
  } else {
    // Qwen3: attention_bias on all four projections, never an MLP bias.
    const bool ab = get_bool(j, "attention_bias", label, false);
    c.qkv_bias = ab;
    c.o_bias = ab;
    c.mlp_bias = mt == "qwen3" ? false : get_bool(j, "mlp_bias", label, false);
  }
  c.qk_norm = mt == "qwen3";
  if (mt == "mistral") {
    // Every layer slides; MistralConfig's default window is 4096 (null: none).
    c.sliding_window = sliding_window_field(j, label, 4096);
    c.layer_window.assign(size_t(c.n_layers), c.sliding_window);
  } else if (mt == "qwen2" || mt == "qwen3") {
    // transformers 5: the window only with use_sliding_window; layers from max_window_layers on slide
    // unless layer_types says which.
    const bool use = get_bool(j, "use_sliding_window", label, false);
    const int sw = sliding_window_field(j, label, 4096);
    c.sliding_window = use ? sw : 0;
    const int first = get_int(j, "max_window_layers", label, 28);
    set_layer_windows(j, label, c, [&](int i) { return c.sliding_window > 0 && i >= first; });
  } else {
    c.layer_window.assign(size_t(c.n_layers), 0);
  }
}

void parse_opt(const json& j, const std::string& label, ModelConfig& c, int* heads, int* kv, int* inter) {
  c.family = ArchFamily::Opt;
  c.hidden = get_positive(j, "hidden_size", label);
  c.n_layers = get_positive(j, "num_hidden_layers", label);
  c.vocab = get_positive(j, "vocab_size", label);
  c.max_positions = get_positive(j, "max_position_embeddings", label);
  *heads = get_stock_size(j, "num_attention_heads", label);
  *kv = *heads;
  if (field(j, "num_key_value_heads"))
    SP_REQUIRE(get_int(j, "num_key_value_heads", label) == *heads,
               "{}: field 'num_key_value_heads' must equal 'num_attention_heads' for opt", label);
  *inter = get_stock_size(j, "ffn_dim", label);
  if (field(j, "head_dim")) {  // written by struprune for pruned OPT checkpoints
    c.head_dim = get_positive(j, "head_dim", label);
  } else {
    SP_REQUIRE(*heads > 0 && c.hidden % *heads == 0,
               "{}: field 'num_attention_heads' ({}) does not divide 'hidden_size' ({})", label, *heads, c.hidden);
    c.head_dim = c.hidden / *heads;
  }
  c.hidden_act = get_string(j, "activation_function", label, "relu");
  SP_REQUIRE(c.hidden_act == "relu", "{}: field 'activation_function' is '{}': only 'relu' is supported for opt", label,
             c.hidden_act);
  const int proj = get_int(j, "word_embed_proj_dim", label, c.hidden);
  SP_REQUIRE(proj == c.hidden,
             "{}: field 'word_embed_proj_dim' ({}) differs from 'hidden_size' ({}): embedding projections are not "
             "supported",
             label, proj, c.hidden);
  SP_REQUIRE(!get_bool(j, "_remove_final_layer_norm", label, false),
             "{}: field '_remove_final_layer_norm' must be false", label);
  SP_REQUIRE(get_bool(j, "layer_norm_elementwise_affine", label, true),
             "{}: field 'layer_norm_elementwise_affine' must be true", label);
  c.norm_before = get_bool(j, "do_layer_norm_before", label, true);
  c.position_offset = 2;
  c.norm_eps = 1e-5f;  // nn.LayerNorm default, as transformers' OPT uses
  const bool bias = get_bool(j, "enable_bias", label, true);
  c.qkv_bias = c.o_bias = c.mlp_bias = bias;
  c.tie_embeddings = get_bool(j, "tie_word_embeddings", label, true);
  c.layer_window.assign(size_t(c.n_layers), 0);
}

// A tanh soft-cap of Gemma: absent gives the family's default, null turns it off (0).
float get_softcap(const json& j, const char* name, const std::string& label, double dflt) {
  if (!j.contains(name)) return float(dflt);
  const double v = get_number(j, name, label, 0.0);
  SP_REQUIRE(v > 0 || j[name].is_null(), "{}: field '{}' must be positive or null, got {}", label, name, v);
  return float(v);
}

// Gemma 3's two RoPEs: transformers 5 writes rope_parameters {"full_attention": {...},
// "sliding_attention": {...}}; older configs rope_theta, rope_scaling (full layers) and
// rope_local_base_freq (sliding layers). Defaults as Gemma3TextConfig's: 1e6 and 1e4.
void parse_gemma3_rope(const json& j, const std::string& label, ModelConfig& c) {
  c.rope_base = get_number(j, "rope_theta", label, 1e6);
  c.rope_local_base = get_number(j, "rope_local_base_freq", label, 1e4);
  if (const json* rp = field(j, "rope_parameters")) {
    SP_REQUIRE(rp->is_object() && (field(*rp, "full_attention") || field(*rp, "sliding_attention")),
               "{}: field 'rope_parameters' must hold 'full_attention' and 'sliding_attention' objects for gemma3_text",
               label);
    for (const auto& [key, r, base] : {std::tuple{"full_attention", &c.rope, &c.rope_base},
                                       {"sliding_attention", &c.rope_local, &c.rope_local_base}}) {
      const json* sub = field(*rp, key);
      if (!sub) continue;
      const std::string where = fmt::format("{} rope_parameters.{}", label, key);
      SP_REQUIRE(sub->is_object(), "{}: must be an object", where);
      *base = get_number(*sub, "rope_theta", where, *base);
      parse_rope_scaling(*sub, where, c, *r);
    }
  } else if (const json* rs = field(j, "rope_scaling")) {
    SP_REQUIRE(rs->is_object(), "{} rope_scaling: must be an object", label);
    parse_rope_scaling(*rs, label + " rope_scaling", c, c.rope);
  }
  SP_REQUIRE(c.rope_base > 0 && c.rope_local_base > 0, "{}: the rope_theta of both layer types must be positive",
             label);
  c.rope_theta = float(c.rope_base);
}

// gemma2 / gemma3_text: the LLaMA layout plus (1 + w) RMSNorms before and after each block, GeGLU,
// scaled embeddings, query_pre_attn_scalar, soft-capping and sliding / full layers. Absent fields
// take Gemma2Config / Gemma3TextConfig's defaults.
void parse_gemma(const json& j, const std::string& label, ModelConfig& c, int* heads, int* kv, int* inter) {
  const bool g3 = c.model_type == "gemma3_text";
  c.family = ArchFamily::Gemma;
  c.hidden = get_positive(j, "hidden_size", label);
  c.n_layers = get_positive(j, "num_hidden_layers", label);
  c.vocab = get_positive(j, "vocab_size", label);
  c.max_positions = get_positive(j, "max_position_embeddings", label, g3 ? 131072 : 8192);
  *heads = get_stock_size(j, "num_attention_heads", label);
  *kv = get_stock_size(j, "num_key_value_heads", label, heads);
  *inter = get_stock_size(j, "intermediate_size", label);
  c.head_dim = get_positive(j, "head_dim", label, 256);
  SP_REQUIRE(c.head_dim % 2 == 0, "{}: field 'head_dim' is {}: rotary embeddings need an even head dimension", label,
             c.head_dim);
  c.hidden_act = get_string(j, "hidden_activation", label, "gelu_pytorch_tanh");
  SP_REQUIRE(c.hidden_act == "gelu_pytorch_tanh",
             "{}: field 'hidden_activation' is '{}': only 'gelu_pytorch_tanh' is supported for {}", label, c.hidden_act,
             c.model_type);
  c.norm_eps = float(get_number(j, "rms_norm_eps", label, 1e-6));
  SP_REQUIRE(c.norm_eps > 0, "{}: field 'rms_norm_eps' must be positive", label);
  if (g3)
    parse_gemma3_rope(j, label, c);
  else
    parse_rope(j, label, c);
  c.tie_embeddings = get_bool(j, "tie_word_embeddings", label, true);
  c.qkv_bias = c.o_bias = get_bool(j, "attention_bias", label, false);
  c.mlp_bias = false;
  SP_REQUIRE(!get_bool(j, "use_bidirectional_attention", label, false),
             "{}: field 'use_bidirectional_attention' is true: only causal attention is supported", label);
  c.norm_offset = 1.f;
  c.qk_norm = g3;
  c.query_pre_attn_scalar = get_number(j, "query_pre_attn_scalar", label, 256.0);
  SP_REQUIRE(c.query_pre_attn_scalar > 0, "{}: field 'query_pre_attn_scalar' must be positive", label);
  c.final_softcap = get_softcap(j, "final_logit_softcapping", label, g3 ? 0.0 : 30.0);
  // Gemma 3's attention does not apply attn_logit_softcapping (transformers passes no softcap).
  c.attn_softcap = g3 ? 0.f : get_softcap(j, "attn_logit_softcapping", label, 50.0);
  c.sliding_window = sliding_window_field(j, label, 4096);
  // Without layer_types, as transformers derives them: every pattern-th layer is global.
  const int pattern = g3 ? get_positive(j, "sliding_window_pattern", label, 6) : 2;
  set_layer_windows(j, label, c, [&](int i) { return (i + 1) % pattern != 0; });
}

void check_layer(const LayerShape& s, const std::string& where, const std::string& label, bool opt) {
  SP_REQUIRE(s.n_heads >= 0 && s.n_kv_heads >= 0 && s.intermediate >= 0, "{}: {}: sizes must be non-negative", label,
             where);
  SP_REQUIRE((s.n_heads == 0) == (s.n_kv_heads == 0),
             "{}: {}: 'num_attention_heads' ({}) and 'num_key_value_heads' ({}) must both be zero or both positive",
             label, where, s.n_heads, s.n_kv_heads);
  SP_REQUIRE(s.n_kv_heads == 0 || s.n_heads % s.n_kv_heads == 0,
             "{}: {}: 'num_attention_heads' ({}) is not a multiple of 'num_key_value_heads' ({})", label, where,
             s.n_heads, s.n_kv_heads);
  SP_REQUIRE(!opt || s.n_heads == s.n_kv_heads,
             "{}: {}: 'num_key_value_heads' must equal 'num_attention_heads' for opt", label, where);
}

}  // namespace

bool ModelConfig::uniform() const {
  return std::all_of(layers.begin(), layers.end(), [&](const LayerShape& s) { return s == layers.front(); });
}

LayerShape ModelConfig::max_layer() const {
  LayerShape m;
  for (const auto& s : layers) {
    m.n_heads = std::max(m.n_heads, s.n_heads);
    m.n_kv_heads = std::max(m.n_kv_heads, s.n_kv_heads);
    m.intermediate = std::max(m.intermediate, s.intermediate);
  }
  return m;
}

ModelConfig parse_model_config(const json& j, const std::string& label) {
  SP_REQUIRE(j.is_object(), "{}: must be a JSON object", label);
  ModelConfig c;
  c.raw = j;
  c.model_type = get_string(j, "model_type", label, "");
  SP_REQUIRE(!c.model_type.empty(), "{}: missing required field 'model_type'", label);
  int heads = 0, kv = 0, inter = 0;
  if (c.model_type == "llama" || c.model_type == "mistral" || c.model_type == "qwen2" || c.model_type == "qwen3")
    parse_llama_family(j, label, c, &heads, &kv, &inter);
  else if (c.model_type == "opt")
    parse_opt(j, label, c, &heads, &kv, &inter);
  else if (c.model_type == "gemma2" || c.model_type == "gemma3_text")
    parse_gemma(j, label, c, &heads, &kv, &inter);
  else
    throw_input(
        "{}: field 'model_type' is '{}': unsupported architecture (supported: llama, mistral, qwen2, qwen3, opt, "
        "gemma2, gemma3_text)",
        label, c.model_type);
  c.bos_token_id = get_token_id(j, "bos_token_id", label);
  c.eos_token_id = get_token_id(j, "eos_token_id", label);
  c.weight_dtype = weight_dtype(j, label);
  const bool opt = c.family == ArchFamily::Opt;

  if (const json* per = field(j, "struprune_layers")) {
    SP_REQUIRE(per->is_array(), "{}: field 'struprune_layers' must be an array", label);
    SP_REQUIRE(int(per->size()) == c.n_layers, "{}: field 'struprune_layers' has {} entries, 'num_hidden_layers' is {}",
               label, per->size(), c.n_layers);
    for (size_t i = 0; i < per->size(); ++i) {
      const json& e = (*per)[i];
      const std::string where = fmt::format("struprune_layers[{}]", i);
      SP_REQUIRE(e.is_object(), "{}: field '{}' must be an object", label, where);
      const std::string elabel = label + " " + where;
      LayerShape s;
      s.n_heads = get_int(e, "num_attention_heads", elabel);
      s.n_kv_heads = get_int(e, "num_key_value_heads", elabel, opt ? &s.n_heads : nullptr);
      s.intermediate = get_int(e, "intermediate_size", elabel);
      check_layer(s, where, label, opt);
      c.layers.push_back(s);
    }
  } else {
    SP_REQUIRE(heads % kv == 0, "{}: field 'num_attention_heads' ({}) is not a multiple of 'num_key_value_heads' ({})",
               label, heads, kv);
    c.layers.assign(size_t(c.n_layers), LayerShape{heads, kv, inter});
  }
  // The attention width (heads x head_dim) is an int too.
  const int64_t width = int64_t(c.max_layer().n_heads) * c.head_dim;
  SP_REQUIRE(width <= kMaxWidth, "{}: 'num_attention_heads' x 'head_dim' = {} x {} = {} is out of range (at most {})",
             label, c.max_layer().n_heads, c.head_dim, width, kMaxWidth);
  return c;
}

ModelConfig load_model_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  SP_REQUIRE(in.good(), "{}: cannot open", path);
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& ex) {  // parse_error, or out_of_range for a number overflow
    throw_input("{}: not valid JSON: {}", path, ex.what());
  }
  return parse_model_config(j, path);
}

bool has_per_layer_shapes(const ModelConfig& c) {
  const LayerShape m = c.max_layer();
  return !(c.uniform() && m.n_heads > 0 && m.intermediate > 0);
}

json model_config_to_json(const ModelConfig& c) {
  json j = c.raw.is_object() ? c.raw : json::object();
  const bool opt = c.family == ArchFamily::Opt;
  const LayerShape m = c.max_layer();
  j["model_type"] = c.model_type;
  j["hidden_size"] = c.hidden;
  j["num_hidden_layers"] = c.n_layers;
  j["vocab_size"] = c.vocab;
  j["max_position_embeddings"] = c.max_positions;
  j["num_attention_heads"] = m.n_heads;
  if (opt) {
    j["ffn_dim"] = m.intermediate;
    j.erase("num_key_value_heads");
    // Stock OPT derives head_dim = hidden / heads; record it when pruning broke that.
    if (m.n_heads == 0 || m.n_heads * c.head_dim != c.hidden) j["head_dim"] = c.head_dim;
  } else {
    j["num_key_value_heads"] = m.n_kv_heads;
    j["intermediate_size"] = m.intermediate;
    // Gemma's head_dim is its own field (default 256), never hidden / heads.
    if (j.contains("head_dim") || m.n_heads == 0 || m.n_heads * c.head_dim != c.hidden || c.family == ArchFamily::Gemma)
      j["head_dim"] = c.head_dim;
  }
  // Stock fields of 0 (a part pruned away in every layer) only parse beside "struprune_layers".
  if (!has_per_layer_shapes(c)) {
    j.erase("struprune_layers");
    if (j.contains("auto_map") && j["auto_map"] == hf_auto_map(c)) j.erase("auto_map");  // ours: stock again
  } else {
    json per = json::array();
    for (const auto& s : c.layers) {
      json e = {{"num_attention_heads", s.n_heads}, {"intermediate_size", s.intermediate}};
      e["num_key_value_heads"] = s.n_kv_heads;
      per.push_back(e);
    }
    j["struprune_layers"] = per;
    j["auto_map"] = hf_auto_map(c);  // transformers loads it with the modeling file (hf_remote_code.h)
  }
  return j;
}

void save_model_config(const ModelConfig& c, const std::string& path) {
  write_file_atomic(path, model_config_to_json(c).dump(2) + "\n");
}

}  // namespace sp::io
