// A C++ program whose memory all goes through operator new/delete, hence
// malloc/free: threads building strings, vectors, maps and shared_ptr graphs,
// handing objects to each other through a queue (so they die on another
// thread), exceptions rethrown and freed on another thread, with
// thread_local objects destroyed at thread exit. Its output is
// deterministic: the preload test compares it between glibc and lemmalloc.
#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <exception>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * 0x100000001b3ull; }

struct Node {
  std::string name;
  std::vector<std::shared_ptr<Node>> kids;
  std::weak_ptr<Node> parent;
  explicit Node(std::string n) : name(std::move(n)) {}
};

// A bounded queue of parcels: the producer allocates, a consumer frees.
struct Parcel {
  std::vector<uint32_t> data;
  std::map<std::string, std::string> tags;
  std::unique_ptr<std::string> note;
};
class Queue {
 public:
  void put(std::unique_ptr<Parcel> p) {
    std::unique_lock<std::mutex> l(m_);
    not_full_.wait(l, [&] { return q_.size() < 64; });
    q_.push_back(std::move(p));
    not_empty_.notify_one();
  }
  std::unique_ptr<Parcel> take() {
    std::unique_lock<std::mutex> l(m_);
    not_empty_.wait(l, [&] { return !q_.empty(); });
    auto p = std::move(q_.front());
    q_.pop_front();
    not_full_.notify_one();
    return p;
  }
 private:
  std::mutex m_;
  std::condition_variable not_empty_, not_full_;
  std::deque<std::unique_ptr<Parcel>> q_;
};

// Destroyed at thread exit, after the thread's last ordinary free.
thread_local std::vector<std::string> tls_log;

uint64_t strings_and_maps(int id) {
  std::map<std::string, std::vector<int>> index;
  std::unordered_map<uint64_t, std::string> by_hash;
  std::string text;
  uint64_t h = 1469598103934665603ull;
  for (int i = 0; i < 20000; i++) {
    std::ostringstream w;
    w << "w" << (i * 7919 + id) % 1543 << "-" << std::string((size_t)(i % 37), char('a' + i % 26));
    std::string word = w.str();
    index[word].push_back(i);
    text += word;
    if (text.size() > 100000) text.erase(0, 50000);
    by_hash[std::hash<std::string>{}(word) % 4096] = word;
    if (i % 1000 == 0) tls_log.push_back(word);
  }
  for (auto &kv : index) {
    h = mix(h, kv.first.size());
    h = mix(h, kv.second.size());
  }
  std::vector<std::string> words;
  for (auto &kv : by_hash) words.push_back(kv.second);
  std::sort(words.begin(), words.end());
  words.erase(std::unique(words.begin(), words.end()), words.end());
  for (auto &w : words) h = mix(h, w[0] + w.size());
  return mix(h, text.size());
}

uint64_t trees(int id) {
  uint64_t h = 7;
  for (int round = 0; round < 30; round++) {
    auto root = std::make_shared<Node>("root" + std::to_string(id));
    std::vector<std::shared_ptr<Node>> all{root};
    for (int i = 1; i < 2000; i++) {
      auto parent = all[(size_t)(i * 31 + round) % all.size()];
      auto kid = std::make_shared<Node>(parent->name.substr(0, 8) + "/" + std::to_string(i));
      kid->parent = parent;
      parent->kids.push_back(kid);
      all.push_back(std::move(kid));
    }
    for (auto &n : all) h = mix(h, n->kids.size() + n->name.size() + (n->parent.expired() ? 0 : 1));
    all.resize(1);  // the tree now dies through its shared_ptrs
  }
  return h;
}

// Over-aligned objects go through operator new(size, align_val_t), which
// libstdc++ serves with aligned_alloc.
struct alignas(128) Cell {
  uint64_t v[3];
};

uint64_t lists_and_sets(int id) {
  std::list<std::vector<double>> l;
  std::vector<std::unique_ptr<Cell>> cells;
  std::set<std::pair<int, std::string>> s;
  uint64_t h = 11;
  for (int i = 0; i < 5000; i++) {
    l.emplace_back((size_t)(i % 97 + 1), i * 0.5 + id);
    if (l.size() > 300) l.pop_front();
    s.emplace(i % 701, std::to_string(i * id));
    if (i % 3 == 0) s.erase(s.begin());
    cells.push_back(std::make_unique<Cell>(Cell{{(uint64_t)i, (uint64_t)id, 0}}));
    if (cells.size() > 100) cells.erase(cells.begin(), cells.begin() + 50);
  }
  for (auto &c : cells) h = mix(h, c->v[0] + (reinterpret_cast<uintptr_t>(c.get()) % alignof(Cell)));
  for (auto &v : l) h = mix(h, (uint64_t)v.size());
  for (auto &p : s) h = mix(h, (uint64_t)p.first + p.second.size());
  return h;
}

// Exceptions are allocated with malloc (__cxa_allocate_exception); an
// exception_ptr carries one to the thread that rethrows and frees it.
uint64_t exceptions(int id) {
  std::vector<std::exception_ptr> caught;
  for (int i = 0; i < 2000; i++) {
    try {
      if (i % 3 == 0) throw std::runtime_error("error " + std::to_string(i * id) + std::string((size_t)(i % 300), 'e'));
      throw std::out_of_range(std::to_string(i));
    } catch (...) {
      caught.push_back(std::current_exception());
    }
  }
  uint64_t h = 5;
  std::thread other([&] {
    for (auto &e : caught) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception &x) {
        h = mix(h, std::string(x.what()).size());
      }
    }
    caught.clear();  // the last references die on this thread
  });
  other.join();
  return h;
}

}  // namespace

int main() {
  const int workers = 12;
  std::vector<uint64_t> result((size_t)workers);
  std::vector<std::thread> threads;
  for (int id = 0; id < workers; id++)
    threads.emplace_back([id, &result] {
      std::function<uint64_t(int)> jobs[] = {strings_and_maps, trees, lists_and_sets, exceptions};
      result[(size_t)id] = jobs[id % 4](id);
    });

  // Producers allocate parcels; consumers check and free them.
  Queue q;
  std::vector<uint64_t> consumed(4);
  std::vector<std::thread> pc;
  for (int c = 0; c < 4; c++)
    pc.emplace_back([c, &q, &consumed] {
      uint64_t h = 3;
      for (;;) {
        auto p = q.take();
        if (!p) break;
        for (auto v : p->data) h += v;
        for (auto &kv : p->tags) h += kv.first.size() * 3 + kv.second.size();
        h += p->note->size();
      }
      consumed[(size_t)c] = h;
    });
  for (int pr = 0; pr < 4; pr++)
    pc.emplace_back([pr, &q] {
      for (int i = 0; i < 5000; i++) {
        auto p = std::make_unique<Parcel>();
        p->data.assign((size_t)(i % 200 + 1), (uint32_t)(i + pr));
        for (int t = 0; t < i % 5; t++) p->tags["tag" + std::to_string(t)] = std::string((size_t)(t * 20 + 1), 'x');
        p->note = std::make_unique<std::string>(std::string((size_t)(i % 3000), 'n'));
        q.put(std::move(p));
      }
    });
  for (size_t i = 4; i < pc.size(); i++) pc[i].join();
  for (int c = 0; c < 4; c++) q.put(nullptr);
  for (int c = 0; c < 4; c++) pc[(size_t)c].join();
  for (auto &t : threads) t.join();

  uint64_t total = 0;
  for (int id = 0; id < workers; id++) {
    std::printf("worker %2d: %016llx\n", id, (unsigned long long)result[(size_t)id]);
    total = mix(total, result[(size_t)id]);
  }
  uint64_t parcels = 0;
  for (auto h : consumed) parcels += h;  // the split between consumers varies; the sum does not
  std::printf("parcels: %llu\ntotal: %016llx\n", (unsigned long long)parcels, (unsigned long long)total);
  return 0;
}
