# Expected deviations of mimalloc 2.0.9 (Debian 12 libmimalloc2.0) from
# lemmalloc's specification, each observed by the oracle and reproduced with
# a plain LD_PRELOAD test program.
# Format: allow PROPERTY FUNCTION CASE  reason -- reference
allow null-errno * errno                failures for sizes beyond mimalloc's maximum (and calloc/reallocarray overflow) return NULL without setting errno; POSIX requires ENOMEM -- mimalloc issue #1135 "missing errno assigns"
allow null-errno aligned_alloc einval   aligned_alloc with alignment 0 or a non-power of two returns NULL without setting errno (POSIX.1-2024: EINVAL) -- mi_aligned_alloc checks the alignment but sets no errno
allow null-errno memalign einval        memalign with alignment 0 or a non-power of two returns NULL without setting errno; glibc rounds the alignment up and succeeds
allow alignment aligned_alloc *        aligned allocations of 256, 512 or 1024 bytes (size a multiple of the alignment) come back misaligned, e.g. aligned_alloc(512, 1024) = ...180 -- mimalloc issue #700 "Alignment issue in mi_malloc_aligned when requested size = alignment" (regression in 2.0.9, fixed in 2.1)
allow alignment posix_memalign *       the same bug through posix_memalign -- mimalloc issue #700
allow alignment memalign *             the same bug through memalign -- mimalloc issue #700
allow invalid-alignment aligned_alloc zero  aligned_alloc(0, n) can succeed: the alignment check of mi_malloc_aligned is skipped on its small-size fast path
