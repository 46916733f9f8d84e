# One conformance scenario with Perl's Net::Stomp (libnet-stomp-perl 0.61).
#
#   perl net_stomp_client.pl PORT VERSION SCENARIO [SPEC-JSON]
#
# VERSION is 1.0 (Net::Stomp's own dialect: no accept-version, no escaping)
# or 1.1 or 1.2 (accept-version sent as a CONNECT header, no host; Net::Stomp
# itself knows nothing of 1.1+, so only plain header values are used). The program
# prints what it observed as one JSON line; test_perl_net_stomp.py and
# test_interop.py make the assertions. It dies (non-zero exit) when the
# broker does not answer in time. Scenarios that wait for a peer print READY
# once subscribed.
#
# Net::Stomp quirks worked around here:
#  - disconnect() sends DISCONNECT without a receipt and closes at once, so
#    a DISCONNECT with a receipt is sent with send_frame();
#  - after the broker closes the socket, receive_frame() silently reconnects
#    (reconnect_attempts 0 means "forever"), so a closed connection is
#    detected on the raw socket instead;
#  - ack() always sends message-id; on 1.2 the `id` header is added by hand,
#    on 1.1 the `subscription` header;
#  - bodies get a content-length only with the bytes_message header.

use strict;
use warnings;
use Encode qw(decode encode);
use JSON::PP;
use Net::Stomp;
use Net::Stomp::Frame;
use Time::HiRes qw(time sleep);

$| = 1;

my ($PORT, $VERSION, $SCENARIO, $SPEC_JSON) = @ARGV;
die "usage: $0 PORT VERSION SCENARIO [SPEC]\n" unless $SCENARIO;
my $SPEC = $SPEC_JSON ? decode_json($SPEC_JSON) : {};
my $WAIT = 10;
my $JSON = JSON::PP->new->utf8->canonical(1);

package Peer;

sub new {
    my ($class) = @_;
    my $stomp = Net::Stomp->new({ hostname => '127.0.0.1', port => $PORT,
                                  reconnect_attempts => 1, initial_reconnect_attempts => 1 });
    # Net::Stomp sends exactly the headers given: login and passcode as its
    # documentation shows them, and accept-version to ask for 1.1 or 1.2. No
    # host: the broker picks its default virtual host.
    my %headers = (login => 'guest', passcode => 'guest');
    $headers{'accept-version'} = $VERSION if $VERSION ne '1.0';
    my $connected = $stomp->connect(\%headers);
    die "CONNECT failed: " . ($connected ? $connected->command : 'no answer') . "\n"
        unless $connected && $connected->command eq 'CONNECTED';
    return bless { stomp => $stomp, frames => [], connected => $connected, serial => 0 }, $class;
}

sub stomp { $_[0]{stomp} }

sub await {
    my ($self, $what, $match) = @_;
    my $deadline = main::time() + $WAIT;
    my $seen = 0;
    while (1) {
        while ($seen < @{ $self->{frames} }) {
            my $frame = $self->{frames}[$seen++];
            return $frame if $match->($frame);
        }
        my $left = $deadline - main::time();
        die "timed out waiting for $what; have " . $self->summary . "\n" if $left <= 0;
        my $frame = $self->{stomp}->receive_frame({ timeout => $left });
        push @{ $self->{frames} }, $frame if $frame;
    }
}

sub receipt {
    my ($self, $id) = @_;
    return $self->await("RECEIPT $id", sub {
        $_[0]->command eq 'RECEIPT' && $_[0]->headers->{'receipt-id'} eq $id });
}

sub message {
    my ($self, $body) = @_;
    return $self->await("MESSAGE $body", sub {
        $_[0]->command eq 'MESSAGE' && ($_[0]->body // '') eq $body });
}

sub messages { grep { $_->command eq 'MESSAGE' } @{ $_[0]{frames} } }

sub nth_message {
    my ($self, $n) = @_;
    $self->await("$n messages", sub { scalar($self->messages) >= $n });
    return ($self->messages)[$n - 1];
}

sub bodies { [ map { $_->body // '' } $_[0]->messages ] }

sub receipts {
    [ map { $_->headers->{'receipt-id'} } grep { $_->command eq 'RECEIPT' } @{ $_[0]{frames} } ]
}

sub frame {
    my ($self, $command, %headers) = @_;
    $self->{stomp}->send_frame(Net::Stomp::Frame->new({ command => $command,
                                                        headers => \%headers }));
}

sub subscribe {
    my ($self, $destination, $id, %extra) = @_;
    $self->{stomp}->subscribe({ destination => $destination, id => $id,
                                receipt => "sub-$id", %extra });
    $self->receipt("sub-$id");
}

sub publish {
    my ($self, $destination, $body, %extra) = @_;
    my $id = 'pub-' . ++$self->{serial};
    $self->{stomp}->send({ destination => $destination, body => $body, receipt => $id,
                           bytes_message => 1, %extra });
    $self->receipt($id);
}

sub ack {
    my ($self, $frame, %extra) = @_;
    my %id = $VERSION eq '1.2' ? (id => $frame->headers->{ack})
           : $VERSION eq '1.1' ? (subscription => $frame->headers->{subscription})
           : ();
    $self->{stomp}->ack({ frame => $frame, %id, %extra });
}

sub disconnect {
    my ($self, $id) = @_;
    $id //= 'bye';
    $self->frame('DISCONNECT', receipt => $id);
    my $receipt = $self->receipt($id);
    my $closed = $self->closed_by_broker;
    $self->{stomp}->socket->close;
    return { receipt => $receipt->headers->{'receipt-id'}, closed => $closed };
}

# True once the broker has closed the socket (EOF), reading past heart-beats.
sub closed_by_broker {
    my ($self) = @_;
    my $socket = $self->{stomp}->socket;
    my $deadline = main::time() + $WAIT;
    while (main::time() < $deadline) {
        my $ready = IO::Select->new($socket)->can_read($deadline - main::time());
        next unless $ready;
        my $n = sysread($socket, my $buffer, 4096);
        return JSON::PP::true if !defined $n || $n == 0;
    }
    return JSON::PP::false;
}

sub summary {
    join ', ', map {
        $_->command . '(' . ($_->headers->{'receipt-id'} // substr($_->body // '', 0, 30)) . ')'
    } @{ $_[0]{frames} };
}

package main;

sub describe {
    my ($frame) = @_;
    my $body = $frame->body // '';
    # Net::Stomp hands out octets; JSON wants characters.
    my %headers = map { decode('UTF-8', $_) => decode('UTF-8', $frame->headers->{$_} // '') }
        keys %{ $frame->headers };
    return { command => $frame->command, headers => \%headers,
             body_hex => unpack('H*', $body) };
}

sub report { print $JSON->encode($_[0]), "\n" }

sub scenario_basic {
    my $queue = $SPEC->{queue};
    my $topic = $SPEC->{topic};
    my $a = Peer->new;
    my $b = Peer->new;
    $a->subscribe($queue, 'pq');
    $a->subscribe($topic, 'pt');
    $b->subscribe($topic, 'pt2');
    $a->publish($queue, 'queue body from perl', 'x-lang' => 'perl');
    $a->publish($topic, 'topic body from perl', 'x-lang' => 'perl');
    my $queue_message = $a->message('queue body from perl');
    my $topic_message = $a->message('topic body from perl');
    my $topic_message_b = $b->message('topic body from perl');
    my $receipts = $a->receipts;
    report({ connected => describe($a->{connected}),
             queue_message => describe($queue_message),
             topic_message => describe($topic_message),
             topic_message_b => describe($topic_message_b),
             receipts => $receipts,
             disconnects => [ $a->disconnect('bye-a'), $b->disconnect('bye-b') ] });
}

sub scenario_client_ack {
    my $queue = $SPEC->{queue};
    my $producer = Peer->new;
    $producer->publish($queue, $_) for qw(m1 m2 m3);
    my $consumer = Peer->new;
    $consumer->subscribe($queue, 'ca', ack => 'client');
    my @first = map { $consumer->nth_message($_) } 1 .. 3;
    $consumer->ack($first[1], receipt => 'ack-m2');   # cumulative: m1 and m2
    $consumer->receipt('ack-m2');
    $consumer->disconnect;
    my $other = Peer->new;
    $other->subscribe($queue, 'after');
    $other->nth_message(1);
    $producer->publish($queue, 'marker');
    $other->message('marker');
    report({ first => [ map { $_->body } @first ],
             after => $other->bodies,
             redelivered => [ map { $_->headers->{redelivered} } $other->messages ] });
    $producer->disconnect;
    $other->disconnect;
}

sub scenario_transaction {
    my $queue = $SPEC->{queue};
    my $consumer = Peer->new;
    $consumer->subscribe($queue, 'tx');
    my $producer = Peer->new;
    # Net::Stomp's own helper: BEGIN, SEND with a receipt, COMMIT.
    my $ok = $producer->stomp->send_transactional({ destination => $queue,
                                                    body => 'sent transactionally' });
    $consumer->message('sent transactionally');
    # By hand: BEGIN, SEND, then a marker outside it, then COMMIT.
    $producer->frame('BEGIN', transaction => 'perl-tx', receipt => 'begin');
    $producer->receipt('begin');
    $producer->stomp->send({ destination => $queue, body => 'committed',
                             transaction => 'perl-tx' });
    $producer->publish($queue, 'marker-1');
    $consumer->message('marker-1');
    my $before_commit = $consumer->bodies;
    $producer->frame('COMMIT', transaction => 'perl-tx', receipt => 'commit');
    $producer->receipt('commit');
    $consumer->message('committed');
    $producer->frame('BEGIN', transaction => 'perl-tx-2');
    $producer->stomp->send({ destination => $queue, body => 'aborted',
                             transaction => 'perl-tx-2' });
    $producer->frame('ABORT', transaction => 'perl-tx-2', receipt => 'abort');
    $producer->receipt('abort');
    $producer->publish($queue, 'marker-2');
    $consumer->message('marker-2');
    report({ send_transactional => $ok ? JSON::PP::true : JSON::PP::false,
             before_commit => $before_commit, bodies => $consumer->bodies,
             receipts => $producer->receipts });
    $producer->disconnect;
    $consumer->disconnect;
}

sub scenario_error {
    my $peer = Peer->new;
    $peer->stomp->send({ destination => '/nowhere/perl', body => 'lost', receipt => 'bad' });
    my $error = $peer->await('ERROR', sub { $_[0]->command eq 'ERROR' });
    report({ error => describe($error), closed => $peer->closed_by_broker,
             receipts => $peer->receipts });
}

sub id_report {
    return [ map { { 'message-id' => $_->headers->{'message-id'}, ack => $_->headers->{ack},
                     redelivered => $_->headers->{redelivered}, body => $_->body } } @_ ];
}

# Takes COUNT messages without acknowledging them, reports them, says READY
# and waits to be killed: a consumer process that dies holding messages.
sub scenario_hold {
    my $peer = Peer->new;
    $peer->subscribe($SPEC->{queue}, 'hold', ack => $SPEC->{mode});
    my @messages = map { $peer->nth_message($_) } 1 .. $SPEC->{count};
    report({ messages => id_report(@messages) });
    print "READY\n";
    sleep 60;
}

# Takes COUNT messages, acknowledges each (unless auto), reports them.
sub scenario_take {
    my $peer = Peer->new;
    my $mode = $SPEC->{mode};
    $peer->subscribe($SPEC->{queue}, 'take', ack => $mode);
    my @messages = map { $peer->nth_message($_) } 1 .. $SPEC->{count};
    if ($mode ne 'auto') {
        for my $i (0 .. $#messages) {
            $peer->ack($messages[$i], receipt => "ack-$i");
            $peer->receipt("ack-$i");
        }
    }
    report({ messages => id_report(@messages) });
    $peer->disconnect;
}

sub scenario_send {
    my $peer = Peer->new;
    my $body = pack('H*', $SPEC->{body_hex});
    my %headers = map { encode('UTF-8', $_) => encode('UTF-8', $SPEC->{headers}{$_}) }
        keys %{ $SPEC->{headers} || {} };
    $peer->publish($SPEC->{destination}, $body, %headers);
    report({ receipts => $peer->receipts });
    $peer->disconnect;
}

sub scenario_receive {
    my $peer = Peer->new;
    $peer->subscribe($SPEC->{destination}, 'interop');
    print "READY\n";
    my $message = $peer->nth_message(1);
    report({ message => describe($message) });
    $peer->disconnect;
}

my $run = main->can("scenario_$SCENARIO") or die "no scenario $SCENARIO\n";
$run->();
