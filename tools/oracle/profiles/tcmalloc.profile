# Expected deviations of gperftools 2.10 tcmalloc_minimal (Debian 12
# libtcmalloc-minimal4) from lemmalloc's specification, each observed by the
# oracle and reproduced with a plain LD_PRELOAD test program.
# Format: allow PROPERTY FUNCTION CASE  reason -- reference
allow invalid-alignment aligned_alloc zero      aligned_alloc is tc_memalign, which does not validate: alignment 0 succeeds (C23 7.24.3.1 wants NULL), as in glibc before 2.38
allow invalid-alignment aligned_alloc non-pow2  aligned_alloc with a non-power-of-two alignment succeeds (C23 7.24.3.1 wants NULL), as in glibc before 2.38
allow null-errno calloc errno                   calloc whose nmemb * size overflows returns NULL without setting errno (POSIX: ENOMEM)
allow must-fail pvalloc huge                      pvalloc(n) for n within a page of SIZE_MAX rounds n up to a page without an overflow check, wraps to 0 and returns a one-page block (glibc fails with ENOMEM)
allow alignment memalign non-pow2               memalign with a non-power-of-two alignment returns a block aligned only to the size class, not to the next power of two as glibc does
allow must-fail aligned_alloc huge              with a non-power-of-two alignment the size rounding of tc_memalign wraps: aligned_alloc(1000, SIZE_MAX - 12) returns a 32-byte block
allow must-fail memalign huge                   the same wrap through memalign
