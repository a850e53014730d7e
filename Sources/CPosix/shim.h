// The C half of the Posix layer: what the C library declares in headers Swift's Glibc module
// does not import. Header-only (static inline), so nothing is compiled or linked for it.
#include <stddef.h>
#include <stdlib.h>

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#include <malloc.h>
/// Bytes of heap in use over all arenas: chunks handed out plus mmapped blocks (mallinfo2(3)).
static inline long long cposix_heap_in_use(void) {
    struct mallinfo2 m = mallinfo2();
    return (long long)(m.uordblks + m.hblkhd);
}
#else
/// Not known here: -1.
static inline long long cposix_heap_in_use(void) { return -1; }
#endif
