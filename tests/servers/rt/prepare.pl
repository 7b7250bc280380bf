#!/usr/bin/perl
# Run by setup.sh with RT's lib on @INC: root's password, the test queue and a REST2 token,
# through RT's own Perl API. Prints the token (an existing one when it still matches).
# Env: RT_ROOT_PASS, RT_QUEUE, RT_OLD_TOKEN (may be empty).
use strict;
use warnings;
use RT;
RT::LoadConfig();
RT::Init();

my $pass  = $ENV{RT_ROOT_PASS} or die "RT_ROOT_PASS is empty\n";
my $queue = $ENV{RT_QUEUE}     or die "RT_QUEUE is empty\n";
my $old   = $ENV{RT_OLD_TOKEN} // '';

my $root = RT::User->new(RT->SystemUser);
$root->Load('root');
die "RT has no root user\n" unless $root->id;
{   # always: hashed again at the configured BcryptCost
    my ($ok, $msg) = $root->SetPassword($pass);
    die "setting root's password failed: $msg\n" unless $ok;
}
$root->SetEmailAddress('root@rt.test') unless $root->EmailAddress;

my $q = RT::Queue->new(RT->SystemUser);
$q->Load($queue);
unless ($q->id) {
    my ($ok, $msg) = $q->Create(
        Name              => $queue,
        Description       => 'ticket-bot tests',
        CorrespondAddress => 'it-support@rt.test',
        CommentAddress    => 'it-support-comment@rt.test',
    );
    die "creating queue '$queue' failed: $msg\n" unless $ok;
}

# An agent who may own tickets in the queue, with the e-mail of the fake Slack's second
# user (Grace Hopper, U2): "Assign to me" finds the RT user by the Slack e-mail.
my $agent_email = $ENV{RT_AGENT_EMAIL} || 'grace@example.com';
my $agent = RT::User->new(RT->SystemUser);
$agent->LoadByEmail($agent_email);
unless ($agent->id) {
    my ($ok, $msg) = $agent->Create(
        Name => 'grace', EmailAddress => $agent_email, RealName => 'Grace Hopper',
        Privileged => 1,
    );
    die "creating the agent $agent_email failed: $msg\n" unless $ok;
}
$agent->SetPrivileged(1) unless $agent->Privileged;
for my $right (qw(SeeQueue ShowTicket OwnTicket)) {
    $agent->PrincipalObj->GrantRight(Right => $right, Object => $q);  # no-op when held
}

# The old token is kept when it still checks out against the database.
if ($old) {
    my ($user_id, $secret) = RT::AuthToken->ParseAuthString($old);
    if ($user_id && $user_id == $root->id) {
        my $tokens = RT::AuthTokens->new(RT->SystemUser);
        $tokens->LimitOwner(VALUE => $root->id);
        while (my $token = $tokens->Next) {
            if ($token->IsToken($secret)) { print "$old\n"; exit 0; }
        }
    }
}

my $current = RT::CurrentUser->new($root);
my $token = RT::AuthToken->new($current);
my ($id, $msg, $string) = $token->Create(Owner => $root->id, Description => 'ticket-bot tests');
die "creating the REST2 token failed: $msg\n" unless $id;
print "$string\n";
