// The C half of the Posix layer: what the C library declares in headers Swift's Glibc module
// does not import. Header-only (static inline), so nothing is compiled or linked for it.
#include <stddef.h>
#include <stdlib.h>

// A sanitizer (TSan, ASan) replaces the allocator, and glibc's counters then stay at zero: its
// runtime's own count is the one to ask. Weak, so it is null in a build without one.
extern size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#include <malloc.h>
/// Bytes of heap in use over all arenas: chunks handed out plus mmapped blocks (mallinfo2(3)).
static inline long long cposix_heap_in_use(void) {
    if (__sanitizer_get_current_allocated_bytes)
        return (long long)__sanitizer_get_current_allocated_bytes();
    struct mallinfo2 m = mallinfo2();
    return (long long)(m.uordblks + m.hblkhd);
}
#else
/// Not known here (-1), unless a sanitizer's allocator counts.
static inline long long cposix_heap_in_use(void) {
    if (__sanitizer_get_current_allocated_bytes)
        return (long long)__sanitizer_get_current_allocated_bytes();
    return -1;
}
#endif
