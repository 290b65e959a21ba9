# churn.pl: small-object churn in Perl. Every scalar's string buffer, every
# array and every hash (its table and its entries) comes from malloc (Debian's
# perl uses the system malloc).
#
# Three phases, everything short-lived and replaced one by one, as in a
# service:
#   events:   a stream of event hashes (5 fields, an array of tags, a
#             payload string) through a sliding window of the last 2000;
#             per-user aggregates (hashes of counters) updated as events
#             enter and leave; every 5000 events a ranking (a sorted list of
#             array refs) is rebuilt and dropped.
#             Check: the incremental aggregates equal a recount of the
#             window at the end.
#   sessions: an LRU cache of session hashes (a hash of entries, the last
#             use of each, and a queue of [key, use] pairs that eviction
#             pops until it finds a pair still current), 3000 entries,
#             skewed keys; misses build a session, hits update it. Check: hits + misses = requests; every session
#             read back matches what its key regenerates.
#   tokens:   lines built from pieces, split into [kind, text] pairs,
#             filtered and joined back. Check: the join equals the line.
#
# usage: perl churn.pl [scale=1] [--seed=N]
use strict;
use warnings;

my @args = grep { !/^--seed=/ } @ARGV;
my ($seed) = map { /^--seed=(\d+)$/ ? $1 : () } @ARGV;
my $scale = $args[0] // 1;

# A small deterministic generator (Perl's rand differs between builds).
my $state = ($seed // 1) * 2654435761 % 4294967296 + 1;
sub rnd {    # integer in [0, n)
  my ($n) = @_;
  $state = ($state * 1103515245 + 12345) % 2147483648;
  return int($state / 2147483648 * $n);
}
sub urand { $state = ($state * 1103515245 + 12345) % 2147483648; return ($state + 0.5) / 2147483648 }

sub fail { print STDERR "FAIL: $_[0]\n"; exit 1 }

my @KINDS = qw(click view buy scroll login logout);

sub events {
  my ($n) = @_;
  my (@window, %agg);
  my $rankings = 0;
  for my $i (0 .. $n - 1) {
    my $user = 'user' . int(10 / urand()**(1 / 1.2));
    my $ev = { id => $i, user => $user, kind => $KINDS[rnd(6)],
               tags => [ map { 't' . rnd(50) } 1 .. 1 + rnd(4) ],
               payload => 'p' x (8 + rnd(112)), value => rnd(1000) };
    push @window, $ev;
    my $ag = $agg{$user} //= { count => 0, value => 0, kinds => {} };
    $ag->{count}++;
    $ag->{value} += $ev->{value};
    $ag->{kinds}{ $ev->{kind} }++;
    if (@window > 2000) {
      my $old = shift @window;
      my $og = $agg{ $old->{user} };
      $og->{count}--;
      $og->{value} -= $old->{value};
      $og->{kinds}{ $old->{kind} }--;
      delete $agg{ $old->{user} } if $og->{count} == 0;
    }
    if ($i % 5000 == 4999) {
      my @ranking = sort { $b->[0] <=> $a->[0] || $a->[1] cmp $b->[1] }
                    map { [ $agg{$_}{value}, $_, { %{ $agg{$_}{kinds} } } ] } keys %agg;
      $rankings++ if @ranking;
    }
  }
  my %recount;
  for my $ev (@window) {
    my $r = $recount{ $ev->{user} } //= [ 0, 0 ];
    $r->[0]++;
    $r->[1] += $ev->{value};
  }
  for my $u (keys %recount) {
    fail("aggregate of $u drifted")
      if $agg{$u}{count} != $recount{$u}[0] || $agg{$u}{value} != $recount{$u}[1];
  }
  fail('aggregates for users not in the window') if keys %recount != keys %agg;
  return $rankings;
}

sub make_session {
  my ($key) = @_;
  return { key => $key, name => "session-$key-" . ('s' x 20), roles => [ 'r' . length($key) % 7, 'user', 'reader' ],
           hits => 0, note => $key x (1 + length($key) % 5) };
}

sub sessions {
  my ($n) = @_;
  my (%cache, %used, @queue);
  my ($hits, $misses, $clock) = (0, 0, 0);
  for (1 .. $n) {
    my $key = 'k' . int(-log(1 - urand()) * 2500);
    my $s = $cache{$key};
    if (!$s) {
      $misses++;
      if (keys(%cache) >= 3000) {    # evict the least recently used
        while (1) {
          my $e = shift @queue;
          next if $used{ $e->[0] } != $e->[1];    # touched again since
          delete $cache{ $e->[0] };
          delete $used{ $e->[0] };
          last;
        }
      }
      $s = $cache{$key} = make_session($key);
    } else {
      $hits++;
      my $ref = make_session($key);
      fail("session $key corrupted")
        if $s->{name} ne $ref->{name} || $s->{note} ne $ref->{note} || "@{$s->{roles}}" ne "@{$ref->{roles}}";
    }
    $used{$key} = ++$clock;
    push @queue, [ $key, $clock ];
    $s->{hits}++;
  }
  fail('cache bookkeeping') if $hits + $misses != $n || keys(%cache) > 3000;
  return $hits;
}

my @WORDS = ('alpha', 'beta', 'gamma', 'delta', 'x', 'yy', 'zzz', '42', '7', '3.14', '(', ')', '+', '-');

sub tokens {
  my ($n) = @_;
  my $total = 0;
  for (1 .. $n) {
    my $line = join ' ', map { $WORDS[ rnd(scalar @WORDS) ] } 1 .. 5 + rnd(35);
    my @toks = map { [ /^\d/ ? 'num' : /^[a-z]/ ? 'word' : 'op', $_ ] } split / /, $line;
    my @words = grep { $_->[0] eq 'word' } @toks;
    fail('tokens do not join back to the line') if join(' ', map { $_->[1] } @toks) ne $line;
    $total += @words;
  }
  return $total;
}

my $r = events($scale * 150000);
my $h = sessions($scale * 300000);
my $t = tokens($scale * 60000);
print "RESULT ok rankings=$r hits=$h words=$t\n";
