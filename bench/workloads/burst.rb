# burst.rb: issue 16's Ruby bloat pattern: many threads that work in bursts
# and then sleep, in one process (a threaded job runner or app server with
# 20-64 threads).
#
# THREADS threads each run BURSTS bursts. A burst builds 100..1000 objects:
# strings of 100 B..64 KiB (log-uniform: as many of 100..200 bytes as of
# 32..64 KiB; all longer than 23 bytes, so their bytes are malloc'd),
# grouped 1..8 to an array, checks their sizes, keeps one group in 16 in the
# thread's retained set (a FIFO of at most KEEP_KIB KiB: the oldest groups
# drop out and become garbage) and drops the rest; one burst in BIG_EVERY
# is a big job instead, rows of such strings up to 16..48 MB, checked and
# dropped. After every burst the thread sleeps 0..4 ms ("IO"; the GVL is
# released, so the threads interleave and bursts overlap).
#
# When every thread is done: work time; a full GC (as a server's next
# major GC would: otherwise the final RSS would measure when the GC ran,
# not the allocator); then IDLE_MS with every thread blocked (no Ruby code
# runs, no malloc call happens: the allocator's own purging, if any, is
# all that can act); then the final RSS, read without a malloc call; then
# wake_rss, read after a heartbeat's worth of small strings (what an
# allocator that purges only from its own calls gives back as soon as the
# process does something). live is then counted as bloat.rb
# counts it (bench/README.md): after another full GC, the bytes of every
# string longer than 23 bytes and every array longer than 3 elements that
# Ruby still reaches, plus 40 bytes per live slot. It is counted, not asked
# of the allocator (memsize_of_all reports usable sizes, which differ
# between allocators), and it includes whatever Ruby still reaches through
# stale stack words (a finished big job's rows, sometimes), which is as
# live for any allocator as the retained sets.
#
# Validation: every burst and job checks the sizes it built against the
# arithmetic that built them; the retained sets are checked at the end
# (each group's strings against their recorded sizes and fill byte);
# the count of bursts done must be THREADS * BURSTS.
#
# usage: ruby burst.rb [threads=32] [bursts=60] [big_every=40] [keep_kib=1024]
#                      [idle_ms=2000] [--seed=N]
# prints: RESULT ok live_kib=.. final_rss_kib=.. wake_rss_kib=.. baseline_rss_kib=.. work_s=..
#         (peak RSS comes from the launcher's wait4)

def rss_kib
  File.read('/proc/self/status')[/^VmRSS:\s+(\d+)/, 1].to_i
end

def fail!(msg)
  warn "FAIL: #{msg}"
  exit! 1
end

seed_arg = ARGV.find { |a| a.start_with?('--seed=') }
args = ARGV.reject { |a| a.start_with?('--seed=') }
nthreads = (args[0] || 32).to_i
bursts = (args[1] || 60).to_i
big_every = (args[2] || 40).to_i
keep_kib = (args[3] || 1024).to_i
idle_ms = (args[4] || 2000).to_i
seed = seed_arg ? seed_arg[7..].to_i : 1
baseline = rss_kib

LOG_LO = Math.log(100)
LOG_HI = Math.log(65_536)
FILL = ('a'..'z').to_a.freeze

def obj_size(rng) = Math.exp(LOG_LO + rng.rand * (LOG_HI - LOG_LO)).to_i

# A burst: groups of strings, a few kept. Returns the bytes kept.
def burst(rng, kept)
  n = 100 + rng.rand(901)
  made = 0
  want = 0
  keep = []
  while made < n
    k = 1 + rng.rand(8)
    sizes = Array.new(k) { obj_size(rng) }
    c = FILL[rng.rand(26)]
    group = sizes.map { |s| c * s }
    got = group.sum(&:bytesize)
    want = sizes.sum
    fail!("burst lost data: #{got} != #{want}") if got != want
    keep << [group, sizes, c] if rng.rand(16).zero?
    made += k
  end
  keep.each { |g| kept << g }
  keep.sum { |g| g[1].sum }
end

def big_job(rng)
  target = (16 + rng.rand(33)) << 20
  rows = []
  total = 0
  while total < target
    s = 'y' * obj_size(rng)
    rows << s
    total += s.bytesize
  end
  got = rows.sum(&:bytesize)
  fail!("big job lost data: #{got} != #{total}") if got != total
  total
end

done = Array.new(nthreads, 0)
retained = Array.new(nthreads) { [] }
finished = Queue.new
release = Queue.new
t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
threads = Array.new(nthreads) do |t|
  Thread.new do
    rng = Random.new(seed * 1000 + t)
    kept = retained[t]
    kept_bytes = 0
    bursts.times do |b|
      if rng.rand(big_every).zero?
        big_job(rng)
      else
        kept_bytes += burst(rng, kept)
        kept_bytes -= kept.shift[1].sum while kept_bytes > keep_kib * 1024
      end
      done[t] = b + 1
      sleep(rng.rand * 0.004)
    end
    finished << t
    release.pop # idle: blocked until the end
  end
end
nthreads.times { finished.pop }
work = Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0
# The final read must not call malloc itself: an allocator that purges from
# its own malloc/free paths would purge in that call, and the figure would
# not be the idle one. So the file is opened and the buffer made now, and
# after the idle period only read into (sysread into a string with room).
status = File.open('/proc/self/status')
buf = String.new(capacity: 16_384)
GC.start
sleep(idle_ms / 1000.0)
status.sysseek(0)
status.sysread(16_000, buf)
final = buf[/^VmRSS:\s+(\d+)/, 1].to_i
# Then one small piece of work (a heartbeat's worth of strings) and RSS
# again: what an allocator that purges on its own slow paths gives back as
# soon as the process does anything.
wake = Array.new(200) { |i| 'w' * (100 + i * 50) }
fail!('wake-up strings lost') unless wake.sum(&:bytesize) == 200 * 100 + 50 * 199 * 100
woke = rss_kib
status.close
fail!("#{done.sum} bursts done, want #{nthreads * bursts}") if done.sum != nthreads * bursts
retained.each do |kept|
  kept.each do |group, sizes, c|
    fail!('retained group corrupted') unless group.map(&:bytesize) == sizes && group.all? { |s| s[0] == c && s[-1] == c }
  end
end
GC.start # for the count below
live = GC.stat(:heap_live_slots) * 40
ObjectSpace.each_object(String) { |s| live += s.bytesize if s.bytesize > 23 }
ObjectSpace.each_object(Array) { |a| live += a.size * 8 if a.size > 3 }
nthreads.times { release << nil }
threads.each(&:join)
puts format('RESULT ok live_kib=%d final_rss_kib=%d wake_rss_kib=%d baseline_rss_kib=%d work_s=%.3f kept_groups=%d',
            live >> 10, final, woke, baseline, work, retained.sum(&:size))
