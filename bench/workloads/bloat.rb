# bloat.rb: the Sidekiq/Puma memory-bloat pattern of issue 4, in Ruby.
#
# THREADS worker threads take JOBS jobs from a queue, as a Sidekiq process
# or a threaded Puma does:
#   - most jobs build a small document (a hash of strings and arrays, a few
#     KiB to a few hundred KiB outside Ruby's object slots, i.e. in malloc),
#     render it to a string, wait a little for "IO" (sleep releases the GVL,
#     so the threads interleave), and sometimes store a result in a shared
#     cache;
#   - one job in BIG_EVERY builds tens of MB (a report: thousands of strings
#     and arrays) and drops it;
#   - the cache is bounded (CACHE_MIB); at the end about three quarters of
#     it is filled (~30 MiB, ~35 MiB live with the slots), the rest is
#     garbage the GC has freed back to malloc (but see `live` below).
# After the jobs come a full GC and a quiet period of QUIET_MS with one
# small job every 20 ms, twice, with another full GC between; then the
# final RSS is read, with the threads alive.
# What stays resident after the work is up to the C allocator: under glibc
# every thread gets its own arena and their holes add up.
#
# Validation: every job checks the sizes of what it built against the
# arithmetic that built it; the job count and the cache contents are checked
# at the end.
#
# usage: ruby bloat.rb [jobs=20000] [threads=20] [big_every=250] [cache_mib=40] [quiet_ms=500]
# prints: RESULT ok live_kib=.. final_rss_kib=.. baseline_rss_kib=.. work_s=..
require 'objspace'

def rss_kib
  File.read('/proc/self/status')[/^VmRSS:\s+(\d+)/, 1].to_i
end

def fail!(msg)
  warn "FAIL: #{msg}"
  exit! 1
end

jobs = (ARGV[0] || 20_000).to_i
nthreads = (ARGV[1] || 20).to_i
big_every = (ARGV[2] || 250).to_i
cache_mib = (ARGV[3] || 40).to_i
quiet_ms = (ARGV[4] || 500).to_i
baseline = rss_kib

ENTRY = 8 * 1024
cache_slots = cache_mib * 1024 * 1024 / ENTRY
cache = Array.new(cache_slots)
cache_lock = Mutex.new

# A small job: a document of n fields, rendered and measured.
def small_job(rng)
  n = 10 + rng.rand(60)
  doc = {}
  want = 0
  n.times do |i|
    len = 32 + rng.rand(rng.rand(8) == 0 ? 16_384 : 1024)
    doc["field_#{i}"] = 'x' * len
    want += len
  end
  tags = Array.new(5 + rng.rand(40)) { |i| "tag-#{i}-#{rng.rand(1_000_000)}" }
  body = doc.map { |k, v| "#{k}=#{v}" }.join('&')
  got = doc.sum { |_, v| v.bytesize }
  fail!("small job lost data: #{got} != #{want}") if got != want
  fail!('small job lost tags') if tags.size < 5
  body.bytesize
end

# A big job: tens of MB of strings in arrays, summed and dropped.
def big_job(rng)
  target = (10 + rng.rand(30)) << 20
  rows = []
  total = 0
  while total < target
    row = Array.new(4) { 'y' * (512 + rng.rand(8192)) }
    total += row.sum(&:bytesize)
    rows << row
  end
  got = rows.sum { |r| r.sum(&:bytesize) }
  fail!("big job lost data: #{got} != #{total}") if got != total
  total
end

queue = Queue.new
finished = Queue.new
jobs.times { |j| queue << j }
done = Array.new(nthreads, 0)
t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
threads = Array.new(nthreads) do |t|
  Thread.new do
    rng = Random.new(1000 + t)
    while (j = queue.pop)
      if j == :heartbeat
        small_job(rng)
        finished << j
        next
      end
      if j % big_every == big_every - 1
        big_job(rng)
      else
        small_job(rng)
        sleep(0.0002 + rng.rand * 0.001) # IO: the GVL is released
      end
      if rng.rand(3) == 0
        entry = "result-#{j}-".ljust(ENTRY, 'z')
        cache_lock.synchronize { cache[rng.rand(cache_slots)] = entry }
      end
      done[t] += 1
      finished << j
    end
  end
end
jobs.times { finished.pop }
work = Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0
# The work ends with a full GC, as a server's next major GC would: the
# generational GC's minor runs leave old garbage (replaced cache entries,
# 9-44 MiB of it) to a major one, and reading RSS the moment that garbage
# is freed would measure no allocator's idle state, only the GC's timing.
GC.start
# Quiet period: one small job every 20 ms, as an idle server's heartbeat,
# which gives allocators that purge on their own slow paths some calls.
# In two halves with a full GC between: what the first GC could not free
# (a finished job's rows still held by a stale stack word, until the
# heartbeats overwrite it) is garbage by then, and not collected until the
# next major GC; RSS read before it measures the GC, not the allocator.
beats = quiet_ms / 20
heartbeats = lambda do
  beats.times do
    queue << :heartbeat
    sleep 0.02
  end
  beats.times { finished.pop }
end
heartbeats.call
GC.start
heartbeats.call

fail!("#{done.sum} jobs done, want #{jobs}") if done.sum != jobs
filled = cache.compact
fail!('cache entry corrupted') unless filled.all? { |e| e.bytesize == ENTRY && e.start_with?('result-') }
# Measured with the threads alive and idle, as in a server between requests.
final = rss_kib
GC.start # for the count below: the heartbeats' garbage is not live
# Counted, not asked of the allocator (memsize_of_all reports usable sizes,
# which differ between allocators): the bytes of every string and array
# still reachable, plus the slots in use. Not the cache alone: after the
# full GC, Ruby often still holds the rows of a finished big job (11-34 MiB
# of them in some runs), reached through a stale word on an idle thread's
# stack, which its conservative stack scan cannot tell from a reference.
# They are as live as the cache for any allocator. (Strings of up to 23
# bytes and arrays of up to 3 elements live inside their slot.)
live = GC.stat(:heap_live_slots) * 40
ObjectSpace.each_object(String) { |s| live += s.bytesize if s.bytesize > 23 }
ObjectSpace.each_object(Array) { |a| live += a.size * 8 if a.size > 3 }
nthreads.times { queue << nil }
threads.each(&:join)
puts format('RESULT ok live_kib=%d final_rss_kib=%d baseline_rss_kib=%d work_s=%.3f cache_entries=%d',
            live >> 10, final, baseline, work, filled.size)
