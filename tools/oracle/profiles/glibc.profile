# Expected deviations of glibc 2.36 (Debian 12) from lemmalloc's specification.
# Format: allow PROPERTY FUNCTION CASE  reason -- reference
allow invalid-alignment aligned_alloc zero      glibc before 2.38 implements aligned_alloc as memalign: alignment 0 acts as malloc (C23 7.24.3.1 wants NULL) -- fixed in glibc 2.38, BZ #20137
allow invalid-alignment aligned_alloc non-pow2  glibc before 2.38 rounds a non-power-of-two alignment up instead of failing (C23 7.24.3.1) -- fixed in glibc 2.38, BZ #20137
