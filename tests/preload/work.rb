# Multi-threaded Ruby doing real work: string building, hashes, arrays,
# JSON round trips, with objects handed between threads through a Queue.
# Prints a deterministic summary; the preload test compares it.
require 'json'

queue = Queue.new
results = Array.new(8)
threads = (0...8).map do |t|
  Thread.new do
    words = Hash.new(0)
    text = +''
    5000.times do |i|
      w = "w#{(i * 7919 + t) % 1013}" + ('x' * (i % 41))
      words[w] += 1
      text << w << ' '
      text = text[-20_000..] if text.size > 40_000
    end
    docs = (0...300).map do |i|
      { 'id' => i, 'thread' => t, 'name' => "item-#{i}-#{t}" * (1 + i % 5),
        'tags' => (0...(i % 7)).map { |k| "t#{k}" }, 'score' => (i * 37 % 101) / 4.0 }
    end
    json = JSON.generate(docs)
    back = JSON.parse(json)
    queue << back.select { |d| d['score'] > 10 }   # freed by the main thread
    results[t] = [words.size, words.values.sum, text.size, json.size,
                  back.sum { |d| d['tags'].size }, back.map { |d| d['name'] }.join.sum(32)]
  end
end
threads.each(&:join)
handed = 0
handed += queue.pop.size until queue.empty?
results.each_with_index { |r, t| puts "thread #{t}: #{r.join(' ')}" }
puts "handed over: #{handed}"
big = (0...100_000).map { |i| [i.to_s * 3, i] }.to_h
puts "big hash: #{big.size} #{big['999' * 3]} #{big.keys.sort.first(3).join(',')}"
GC.start
puts "gc ok: #{GC.count > 0}"
