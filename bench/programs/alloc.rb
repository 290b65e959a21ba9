# alloc.rb: an allocation-heavy Ruby program. Ruby keeps small objects in its
# own 40-byte slots but every string longer than 23 bytes, every array longer
# than 3 elements and every hash's table lives in malloc.
#
# Three phases, each checking its own result:
#   trees:   binary trees of arrays built and walked; depth d must have
#            2^(d+1) - 1 nodes.
#   strings: strings built, sliced, joined and counted in a hash; the counts
#            must add up to the words generated.
#   records: arrays of hashes sorted, grouped and serialised with Marshal;
#            the round trip must compare equal.
#
# usage: ruby alloc.rb [scale=1]
def tree(d) = d.zero? ? [nil, nil] : [tree(d - 1), tree(d - 1)]

def count(t) = t[0].nil? ? 1 : 1 + count(t[0]) + count(t[1])

def fail!(msg)
  warn "FAIL: #{msg}"
  exit 1
end

scale = (ARGV[0] || 1).to_i
rng = Random.new(7)
nodes = 0
long_lived = tree(14)
(4...16).step(2) do |d|
  (scale * (1 << (16 - d)) / 4).times do
    n = count(tree(d))
    fail!("tree of depth #{d} has #{n} nodes") if n != (1 << (d + 1)) - 1
    nodes += n
  end
end
fail!('long-lived tree damaged') if count(long_lived) != (1 << 15) - 1

vocab = Array.new(5000) { Array.new(2 + rng.rand(24)) { ('a'.ord + rng.rand(10)).chr }.join }
freq = Hash.new(0)
words = 0
(scale * 40).times do
  text = Array.new(5000) { vocab[rng.rand(vocab.size)] }.join(' ')
  text.split.each do |w|
    freq["#{w[0, w.size / 2 + 1]}/#{w}-#{w.size}"] += 1
    words += 1
  end
end
fail!('word counts lost') if freq.values.sum != words

records = 0
(scale * 200).times do |i|
  rows = Array.new(50 + rng.rand(200)) { |j| { id: j, name: "row-#{i}-#{j}-" * (1 + j % 5), v: Array.new(j % 9, j) } }
  groups = rows.sort_by { |r| -r[:id] }.group_by { |r| r[:v].size }
  fail!('grouping lost rows') if groups.values.sum(&:size) != rows.size
  fail!("marshal round trip changed batch #{i}") if Marshal.load(Marshal.dump(rows)) != rows
  records += rows.size
end
puts "RESULT ok nodes=#{nodes} words=#{words} records=#{records}"
