// NOT PART OF THE API: installed only because the header-only native resolver adapter
// prefetches its states' buffers with it. It may change or go away in any release; do not
// include it yourself.
//
// PrefetchLine: asks the CPU to bring the cache line at an address into cache, so that a
// batch's independent cache misses overlap instead of coming one after another.
//
// GCC deletes loops whose bodies are only __builtin_prefetch (they have no effect it must
// keep), which silently turns a batch's prefetch pass into nothing; on x86-64 this is the
// instruction itself, which stays.
#pragma once

namespace statefold {

inline void PrefetchLine(const void* p) {
#if defined(__x86_64__)
  asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p);
#endif
}

}  // namespace statefold
