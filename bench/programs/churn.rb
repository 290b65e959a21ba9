# churn.rb: small-object churn in Ruby. Strings longer than 23 bytes,
# arrays longer than 3 elements and every hash's table live in malloc.
#
# Unlike alloc.rb (trees built whole, one big word count, Marshal round
# trips), everything here is short-lived and replaced one by one, as in a
# service:
#   events:   a stream of event hashes (5 fields, an array of tags, a
#             payload string) through a sliding window of the last 2000;
#             per-user aggregates (hashes of counters) updated as events
#             enter and leave; every 5000 events a ranking (a sorted array
#             of arrays) is rebuilt and dropped.
#             Check: the incremental aggregates equal a recount of the
#             window at the end.
#   sessions: an LRU cache (a Hash, which keeps insertion order: delete and
#             re-insert moves a key to the end) of session hashes, 3000
#             entries, skewed keys; misses build a session, hits update it,
#             evictions drop the oldest.
#             Check: hits + misses = requests; every session read back
#             matches what its key regenerates.
#   tokens:   lines built from pieces, split into [kind, text] pairs,
#             filtered and joined back. Check: the join equals the line.
#
# usage: ruby churn.rb [scale=1] [--seed=N]
def fail!(msg)
  warn "FAIL: #{msg}"
  exit 1
end

seed_arg = ARGV.find { |a| a.start_with?('--seed=') }
args = ARGV.reject { |a| a.start_with?('--seed=') }
scale = (args[0] || 1).to_i
rng = Random.new(seed_arg ? seed_arg[7..].to_i : 1)

KINDS = %w[click view buy scroll login logout].freeze

def events(rng, n)
  window = []
  head = 0
  agg = {}
  rankings = 0
  n.times do |i|
    user = "user#{(10 / (rng.rand**(1 / 1.2))).to_i}"
    ev = { id: i, user: user, kind: KINDS[rng.rand(KINDS.size)],
           tags: Array.new(1 + rng.rand(4)) { "t#{rng.rand(50)}" },
           payload: 'p' * (8 + rng.rand(112)), value: rng.rand(1000) }
    window << ev
    a = (agg[user] ||= { count: 0, value: 0, kinds: Hash.new(0) })
    a[:count] += 1
    a[:value] += ev[:value]
    a[:kinds][ev[:kind]] += 1
    if window.size - head > 2000
      old = window[head]
      window[head] = nil
      head += 1
      b = agg[old[:user]]
      b[:count] -= 1
      b[:value] -= old[:value]
      b[:kinds][old[:kind]] -= 1
      agg.delete(old[:user]) if b[:count].zero?
      if head > 4096 # compact the queue now and then
        window = window[head..]
        head = 0
      end
    end
    if i % 5000 == 4999
      ranking = agg.map { |k, v| [v[:value], k, v[:kinds].dup] }.sort_by { |x| [-x[0], x[1]] }
      rankings += 1 unless ranking.empty?
    end
  end
  recount = Hash.new { |h, k| h[k] = [0, 0] }
  window[head..].each do |ev|
    r = recount[ev[:user]]
    r[0] += 1
    r[1] += ev[:value]
  end
  recount.each do |user, (c, v)|
    fail!("aggregate of #{user} drifted") if agg[user][:count] != c || agg[user][:value] != v
  end
  fail!('aggregates for users not in the window') if recount.size != agg.size
  rankings
end

def make_session(key)
  { key: key, name: "session-#{key}-#{'s' * 20}", roles: ["r#{key.size % 7}", 'user', 'reader', 'x'],
    hits: 0, note: key * (1 + key.size % 5) }
end

def sessions(rng, n)
  cache = {}
  hits = misses = 0
  n.times do
    key = "k#{(-Math.log(1 - rng.rand) * 2500).to_i}"
    s = cache.delete(key)
    if s.nil?
      misses += 1
      s = make_session(key)
      cache.shift if cache.size >= 3000
    else
      hits += 1
      ref = make_session(key)
      fail!("session #{key} corrupted") if s[:name] != ref[:name] || s[:note] != ref[:note] || s[:roles] != ref[:roles]
    end
    cache[key] = s
    s[:hits] += 1
  end
  fail!('cache bookkeeping') if hits + misses != n || cache.size > 3000
  hits
end

WORDS = %w[alpha beta gamma delta x yy zzz 42 7 3.14 ( ) + -].freeze

def tokens(rng, n)
  total = 0
  n.times do
    line = Array.new(5 + rng.rand(35)) { WORDS[rng.rand(WORDS.size)] }.join(' ')
    toks = line.split(' ').map do |w|
      [w =~ /\A\d/ ? :num : w =~ /\A[a-z]/ ? :word : :op, w]
    end
    words = toks.select { |t| t[0] == :word }
    fail!('tokens do not join back to the line') if toks.map { |t| t[1] }.join(' ') != line
    total += words.size
  end
  total
end

r = events(rng, scale * 150_000)
h = sessions(rng, scale * 300_000)
t = tokens(rng, scale * 60_000)
puts "RESULT ok rankings=#{r} hits=#{h} words=#{t}"
