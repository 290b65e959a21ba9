# Perl doing real work: hashes of arrays, string building, regexes, sort,
# split/join, sprintf, deletion. Prints a deterministic summary.
use strict;
use warnings;

my (%index, @lines);
for my $i (0 .. 59999) {
    my $w = sprintf("w%d-%s", ($i * 7919) % 2003, "z" x ($i % 31));
    push @{ $index{$w} }, $i;
    push @lines, join(",", $i, $w, reverse split //, substr($w, 0, 6));
    delete $index{ sprintf("w%d-", ($i * 13) % 2003) } if $i % 97 == 0;
}
my $text = join("\n", @lines);
my $count = () = $text =~ /w1\d\d-z{3,}/g;
(my $copy = $text) =~ s/(\d+),w/$1;W/g;
my @sorted = sort { length($a) <=> length($b) or $a cmp $b } keys %index;
my $total = 0;
$total += scalar @{ $index{$_} } for @sorted;
my %freq;
$freq{$_}++ for split /[,\n;]/, $copy;
printf "keys %d total %d matches %d text %d copy %d\n", scalar @sorted, $total, $count, length $text, length $copy;
printf "first %s last %s distinct fields %d\n", $sorted[0], $sorted[-1], scalar keys %freq;
printf "top %s\n", join(" ", (sort { $freq{$b} <=> $freq{$a} or $a cmp $b } keys %freq)[0 .. 4]);
