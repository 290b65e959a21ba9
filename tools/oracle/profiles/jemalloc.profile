# Expected deviations of jemalloc 5.3.0 (Debian 12 libjemalloc2) from
# lemmalloc's specification, each observed by the oracle and reproduced with
# a plain LD_PRELOAD test program.
# Format: allow PROPERTY FUNCTION CASE  reason -- reference
allow null-errno realloc errno          realloc that fails (size > the largest class) returns NULL with errno unchanged; POSIX requires ENOMEM -- jemalloc PR #2620 "Set errno to ENOMEM on rallocx() OOM failures" (fixed after 5.3.0)
allow null-errno memalign errno         memalign and valloc share jemalloc's non-POSIX aligned path, which returns NULL without setting errno (glibc sets ENOMEM)
allow null-errno valloc errno           as for memalign
allow null-errno memalign einval        memalign with alignment 0 or a non-power of two returns NULL with errno unchanged; glibc rounds the alignment up and succeeds
allow alignment memalign zero-size      memalign(a, 0) returns a block of the smallest class (8 bytes) that is not a-aligned; glibc aligns it
allow alignment valloc zero-size        valloc(0) likewise returns an 8-byte block that is not page-aligned
