#!/usr/bin/perl
# Creates N tickets fast through RT's own Perl API (no HTTP, no token check), for
# bench/rt_change_feed.py. Run as root on the machine of tests/servers/rt/setup.sh.
#   perl -I/usr/share/request-tracker5/lib bench/rt_seed.pl N QUEUE REQUESTOR
# Prints the new ticket ids, one a line.
use strict;
use warnings;
use RT;
use MIME::Entity;
RT::LoadConfig();
RT::Init();
my ($count, $queue, $requestor) = @ARGV;
die "usage: rt_seed.pl N QUEUE REQUESTOR\n" unless $count && $queue && $requestor;
$| = 1;
for my $n (1 .. $count) {
    my $ticket = RT::Ticket->new(RT->SystemUser);
    my ($id, undef, $msg) = $ticket->Create(
        Queue     => $queue,
        Subject   => "bench ticket $n",
        Requestor => [$requestor],
        MIMEObj   => MIME::Entity->build(Type => 'text/plain', Data => "bench ticket $n\n"),
        # no Create transaction, so no scrips (autoreply mail): ~15x faster; the bench
        # needs the tickets, not their history
        _RecordTransaction => 0,
    );
    die "creating ticket $n failed: $msg\n" unless $id;
    print "$id\n";
}
