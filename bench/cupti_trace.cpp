// cupti_trace: a kernel trace of any CUDA program, by injection (no change to the program, no
// Nsight Systems needed). CUDA loads it at cuInit when
//
//   CUDA_INJECTION64_PATH=build/bench/libcupti_trace.so NVTX_INJECTION64_PATH=/usr/local/cuda/lib64/libcupti.so
//   SP_TRACE_OUT=trace.json struprune-dist prune job.yaml          (the three variables in one environment)
//
// It records every kernel, copy and memset (CUPTI activity records: device start / end), every
// runtime / driver API call (host start / end, thread) and the NVTX ranges the program opens
// (core/trace_range.h: the phases of report.json, the OBS greedy's steps). At exit it charges each
// kernel to the innermost range open on the launching thread when it was launched, and writes, per
// range path: how often it was entered, its host wall time, the device time of its kernels and
// copies, and its kernels by name; plus the host time spent waiting in synchronising calls. The
// table goes to stderr, the whole trace summary as JSON to SP_TRACE_OUT.
#include <cupti.h>
#include <cxxabi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

struct Launch {  // a device activity: its device time and where it was launched from
  uint32_t correlation;
  uint64_t start, end;
  std::string name;
};
struct Api {  // a runtime / driver call on the host
  uint64_t start, end;
  uint32_t thread;
  const char* name;  // CUPTI's own static string
};
struct Mark {  // an NVTX push (start) or pop (end)
  uint64_t time;
  uint32_t thread;
  bool push;
  uint32_t id;
  std::string name;
};

std::mutex g_mutex;
std::vector<Launch> g_launches;
std::unordered_map<uint32_t, Api> g_api;  // by correlation id
std::vector<Api> g_waits;                 // the calls that wait for the device
std::vector<Mark> g_marks;
std::unordered_map<uint32_t, std::string> g_mark_names;  // an end record carries only its id

std::string demangle_uncached(const char* name) {
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string s = status == 0 && d ? d : name;
  std::free(d);
  // Template arguments and parameter lists make names unreadable in a table.
  for (const char open : {'(', '<'}) {
    const auto p = s.find(open);
    if (p != std::string::npos && p > 0) s.resize(p);
  }
  return s.size() > 90 ? s.substr(0, 90) : s;
}

// Kernels repeat by the million: each distinct name is demangled once.
const std::string& demangle(const char* name) {
  static std::unordered_map<std::string, std::string> cache;
  auto it = cache.find(name);
  if (it == cache.end()) it = cache.emplace(name, demangle_uncached(name)).first;
  return it->second;
}

bool is_wait(const char* name) {
  static const char* waits[] = {"Synchronize", "cudaMemcpy", "cuMemcpy", "cudaFree", "cuMemFree"};
  for (const char* w : waits)
    if (std::strstr(name, w) && !std::strstr(name, "Async")) return true;
  return std::strstr(name, "Synchronize") != nullptr;
}

void CUPTIAPI buffer_requested(uint8_t** buffer, size_t* size, size_t* max_records) {
  *size = 8 << 20;
  *buffer = static_cast<uint8_t*>(std::aligned_alloc(8, *size));
  *max_records = 0;
}

void record(CUpti_Activity* r) {
  switch (r->kind) {
    case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL:
    case CUPTI_ACTIVITY_KIND_KERNEL: {
      auto* k = reinterpret_cast<CUpti_ActivityKernel10*>(r);
      g_launches.push_back({k->correlationId, k->start, k->end, demangle(k->name)});
      break;
    }
    case CUPTI_ACTIVITY_KIND_MEMCPY: {
      auto* m = reinterpret_cast<CUpti_ActivityMemcpy6*>(r);
      static const char* kinds[] = {"?", "HtoD", "DtoH", "HtoA", "AtoH", "AtoA", "AtoD", "DtoA", "DtoD", "HtoH"};
      const unsigned kind = m->copyKind < 10 ? m->copyKind : 0;
      g_launches.push_back({m->correlationId, m->start, m->end, std::string("[memcpy ") + kinds[kind] + "]"});
      break;
    }
    case CUPTI_ACTIVITY_KIND_MEMSET: {
      auto* m = reinterpret_cast<CUpti_ActivityMemset4*>(r);
      g_launches.push_back({m->correlationId, m->start, m->end, "[memset]"});
      break;
    }
    case CUPTI_ACTIVITY_KIND_RUNTIME:
    case CUPTI_ACTIVITY_KIND_DRIVER: {
      auto* a = reinterpret_cast<CUpti_ActivityAPI*>(r);
      const char* name = nullptr;
      cuptiGetCallbackName(r->kind == CUPTI_ACTIVITY_KIND_RUNTIME ? CUPTI_CB_DOMAIN_RUNTIME_API
                                                                  : CUPTI_CB_DOMAIN_DRIVER_API,
                           a->cbid, &name);
      Api api{a->start, a->end, a->threadId, name ? name : "?"};
      if (name && is_wait(name)) g_waits.push_back(api);
      // A runtime call and the driver call beneath it share the id: keep the outer (runtime) one.
      auto it = g_api.find(a->correlationId);
      if (it == g_api.end() || r->kind == CUPTI_ACTIVITY_KIND_RUNTIME) g_api[a->correlationId] = api;
      break;
    }
    case CUPTI_ACTIVITY_KIND_MARKER: {
      auto* m = reinterpret_cast<CUpti_ActivityMarker2*>(r);
      const bool push = (m->flags & CUPTI_ACTIVITY_FLAG_MARKER_START) != 0;
      const bool pop = (m->flags & CUPTI_ACTIVITY_FLAG_MARKER_END) != 0;
      if (!push && !pop) break;
      std::string name = m->name ? m->name : "";
      if (push) g_mark_names[m->id] = name;
      else name = g_mark_names[m->id];
      g_marks.push_back({m->timestamp, m->objectId.pt.threadId, push, m->id, std::move(name)});
      break;
    }
    default:
      break;
  }
}

void CUPTIAPI buffer_completed(CUcontext, uint32_t, uint8_t* buffer, size_t, size_t valid) {
  std::lock_guard<std::mutex> lock(g_mutex);
  CUpti_Activity* r = nullptr;
  while (cuptiActivityGetNextRecord(buffer, valid, &r) == CUPTI_SUCCESS) record(r);
  std::free(buffer);
}

struct Totals {
  int64_t entered = 0;
  double wall_ms = 0, device_ms = 0, wait_ms = 0;
  std::map<std::string, std::pair<int64_t, double>> kernels;  // name -> count, ms
};

// Ranges of one thread as intervals with their full path ("pass1.curves/greedy.update").
struct Interval {
  uint64_t start, end;
  std::string path;
};

std::map<uint32_t, std::vector<Interval>> intervals_by_thread() {
  std::map<uint32_t, std::vector<Mark>> by_thread;
  for (const Mark& m : g_marks) by_thread[m.thread].push_back(m);
  std::map<uint32_t, std::vector<Interval>> out;
  for (auto& [thread, marks] : by_thread) {
    std::stable_sort(marks.begin(), marks.end(), [](const Mark& a, const Mark& b) { return a.time < b.time; });
    std::vector<std::pair<uint64_t, std::string>> stack;  // start, path
    for (const Mark& m : marks) {
      if (m.push) {
        stack.push_back({m.time, stack.empty() ? m.name : stack.back().second + "/" + m.name});
      } else if (!stack.empty()) {
        out[thread].push_back({stack.back().first, m.time, stack.back().second});
        stack.pop_back();
      }
    }
  }
  return out;
}

// The innermost interval containing t (intervals of one thread nest): the latest start <= t whose end >= t.
const Interval* innermost(const std::vector<Interval>& v, uint64_t t) {
  const Interval* best = nullptr;
  auto it = std::upper_bound(v.begin(), v.end(), t, [](uint64_t x, const Interval& i) { return x < i.start; });
  while (it != v.begin()) {
    --it;
    if (it->end >= t) {
      best = &*it;
      break;
    }
    if (t - it->start > 600ull * 1000000000ull) break;  // ranges longer than 10 min are not nested this deep
  }
  return best;
}

void report() {
  cuptiActivityFlushAll(1);
  std::lock_guard<std::mutex> lock(g_mutex);
  auto threads = intervals_by_thread();
  for (auto& [t, v] : threads)
    std::sort(v.begin(), v.end(), [](const Interval& a, const Interval& b) { return a.start < b.start; });
  std::map<std::string, Totals> totals;
  for (const auto& [t, v] : threads)
    for (const Interval& i : v) {
      Totals& x = totals[i.path];
      ++x.entered;
      x.wall_ms += double(i.end - i.start) / 1e6;
    }
  Totals all;
  uint64_t first = UINT64_MAX, last = 0;
  for (const Launch& l : g_launches) {
    const double ms = double(l.end - l.start) / 1e6;
    first = std::min(first, l.start), last = std::max(last, l.end);
    std::string path = "(no range)";
    const auto api = g_api.find(l.correlation);
    if (api != g_api.end()) {
      const auto th = threads.find(api->second.thread);
      if (th != threads.end())
        if (const Interval* i = innermost(th->second, api->second.start)) path = i->path;
    }
    for (Totals* x : {&totals[path], &all}) {
      x->device_ms += ms;
      auto& k = x->kernels[l.name];
      ++k.first, k.second += ms;
    }
  }
  for (const Api& w : g_waits) {
    const double ms = double(w.end - w.start) / 1e6;
    all.wait_ms += ms;
    const auto th = threads.find(w.thread);
    std::string path = "(no range)";
    if (th != threads.end())
      if (const Interval* i = innermost(th->second, w.start)) path = i->path;
    totals[path].wait_ms += ms;
  }
  auto top = [](const Totals& x, size_t n) {
    std::vector<std::pair<std::string, std::pair<int64_t, double>>> v(x.kernels.begin(), x.kernels.end());
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second.second > b.second.second; });
    if (v.size() > n) v.resize(n);
    return v;
  };
  nlohmann::json j;
  j["span_ms"] = first < last ? double(last - first) / 1e6 : 0.0;
  j["device_ms"] = all.device_ms;
  j["wait_ms"] = all.wait_ms;
  for (const auto& [path, x] : totals) {
    nlohmann::json r{{"entered", x.entered}, {"wall_ms", x.wall_ms}, {"device_ms", x.device_ms}, {"wait_ms", x.wait_ms}};
    for (const auto& [name, k] : top(x, 12)) r["kernels"].push_back({{"name", name}, {"count", k.first}, {"ms", k.second}});
    j["ranges"][path] = r;
  }
  for (const auto& [name, k] : top(all, 40)) j["kernels"].push_back({{"name", name}, {"count", k.first}, {"ms", k.second}});
  std::fprintf(stderr, "\ncupti_trace: device busy %.1f ms of a %.1f ms span; host waits %.1f ms\n", all.device_ms,
               j["span_ms"].get<double>(), all.wait_ms);
  std::fprintf(stderr, "| range | entered | wall ms | device ms | waits ms | top kernel |\n|---|---:|---:|---:|---:|---|\n");
  for (const auto& [path, x] : totals) {
    const auto t = top(x, 1);
    std::fprintf(stderr, "| %s | %lld | %.1f | %.1f | %.1f | %s |\n", path.c_str(), static_cast<long long>(x.entered),
                 x.wall_ms, x.device_ms, x.wait_ms,
                 t.empty() ? "" : (t[0].first + " " + std::to_string(int(t[0].second.second)) + " ms").c_str());
  }
  if (const char* out = std::getenv("SP_TRACE_OUT")) std::ofstream(out) << j.dump(1) << "\n";
}

}  // namespace

extern "C" int InitializeInjection() {
  cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed);
  for (CUpti_ActivityKind k : {CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, CUPTI_ACTIVITY_KIND_MEMCPY,
                               CUPTI_ACTIVITY_KIND_MEMSET, CUPTI_ACTIVITY_KIND_RUNTIME, CUPTI_ACTIVITY_KIND_DRIVER,
                               CUPTI_ACTIVITY_KIND_MARKER})
    if (cuptiActivityEnable(k) != CUPTI_SUCCESS) std::fprintf(stderr, "cupti_trace: activity kind %d not enabled\n", k);
  std::atexit(report);
  return 1;
}
