#!/usr/bin/perl
# Make each ELF file's GNU build-id a hash of its stripped bytes.
#
# The linker hashes the whole unstripped output, debug information included,
# and two OTP builds differ there (beam.smp's C++ JIT objects), so the id
# differed between clean rebuilds although every byte the image ships was the
# same.  Zero the id, hash the file, write the first bytes of the SHA-1 back
# in place: same program bytes, same id, on any machine.
use strict;
use warnings;
use Digest::SHA qw(sha1);

my $NT_GNU_BUILD_ID = 3;
my $SHT_NOTE = 7;

for my $path (@ARGV) {
    open(my $fh, '+<:raw', $path) or die "build_id.pl: $path: $!\n";
    local $/;
    my $elf = <$fh>;
    die "build_id.pl: $path: only 64-bit little-endian ELF is handled\n"
        unless substr($elf, 0, 6) eq "\x7fELF\x02\x01";
    my ($shoff) = unpack('Q<', substr($elf, 0x28, 8));
    my ($shentsize, $shnum) = unpack('S<S<', substr($elf, 0x3A, 4));
    my @ids;
    for my $i (0 .. $shnum - 1) {
        my $sh = substr($elf, $shoff + $i * $shentsize, $shentsize);
        my $type = unpack('L<', substr($sh, 4, 4));
        next unless $type == $SHT_NOTE;
        my ($offset, $size) = unpack('Q<Q<', substr($sh, 0x18, 16));
        my $at = $offset;
        while ($at + 12 <= $offset + $size) {
            my ($namesz, $descsz, $ntype) = unpack('L<L<L<', substr($elf, $at, 12));
            my $desc = $at + 12 + (($namesz + 3) & ~3);
            push @ids, [$desc, $descsz]
                if $ntype == $NT_GNU_BUILD_ID && substr($elf, $at + 12, $namesz) eq "GNU\0";
            $at = $desc + (($descsz + 3) & ~3);
        }
    }
    next unless @ids;
    substr($elf, $_->[0], $_->[1]) = "\0" x $_->[1] for @ids;
    my $digest = sha1($elf);
    for my $id (@ids) {
        die "build_id.pl: $path: build-id longer than SHA-1\n" if $id->[1] > length $digest;
        seek($fh, $id->[0], 0) or die "build_id.pl: $path: $!\n";
        print {$fh} substr($digest, 0, $id->[1]);
    }
    close($fh) or die "build_id.pl: $path: $!\n";
}
