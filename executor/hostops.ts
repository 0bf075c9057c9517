import { posix } from "node:path";
import type { ChangeTarget } from "../core/patterns/schema.ts";
import { CREDENTIAL_CONTENT, PROTECTED_NAME } from "../core/policy/protected.ts";
import type { ExecResult, Transport } from "./transport/types.ts";

/**
 * Changes by path that are checked and made in ONE process on the host, so that nothing checked
 * earlier is acted on later. Anyone who can write below a web root can swap a file for a symlink
 * at any moment; `chmod 644 /var/www/html/x.png` run after a separate check would follow a link
 * made in between. The helper instead:
 *
 * - chmod / chown: opens the path with O_NOFOLLOW (a symlink at the last component is refused),
 *   reads the opened file's real path from /proc/self/fd/N (symlinked folders on the way are
 *   resolved by the kernel), checks it is strictly below one of the allowed roots, and only then
 *   calls fchmod / fchown on that descriptor: the file checked is the file changed.
 * - write: follows a symlink at the last component (Debian's sites-enabled → sites-available),
 *   enters the resolved folder, reads its real path from /proc/self/cwd, checks the resolved
 *   file against the roots (and, when given, that it is the file that was backed up), then
 *   writes a temp file in that folder and renames it over the name relative to it, keeping the
 *   resolved file's owner and its mode without group/other write unless a mode is given.
 *
 * Perl because it is on every Debian host (`perl-base` is Essential). The script is a constant;
 * every value arrives in @ARGV (argv over both transports; over SSH each element is quoted), never
 * interpolated into the script text. Exit 3 = refused (nothing changed), 1 = failed, 0 = done.
 *
 *   perl -e HOST_HELPER -- chmod MODE PATH KIND OWNERS NAME_RE CRED_RE ROOT...
 *   perl -e HOST_HELPER -- chown OWNER PATH KIND OWNERS NAME_RE CRED_RE ROOT...  (user, user:group, :group)
 *   perl -e HOST_HELPER -- write MODE|"" PATH EXPECT|"" CREATE_MODE ROOT...   (content on stdin)
 *   perl -e HOST_HELPER -- restore MODE PATH UID:GID ROOT...   (a rollback: the exact old mode and owner)
 *
 * For chmod/chown, on the opened object: KIND (file|dir) must be what it is; OWNERS (comma list)
 * must hold its owner user or group; NAME_RE must match no path segment below its root and CRED_RE
 * nothing in its first 64 KiB (both "" when the rule turns protection off; see
 * core/policy/protected.ts). Every path is refused when it ends in "/" (the kernel would follow a
 * symlink at the last component), when its real path IS a root (roots nest: /var/www/html is
 * below /var/www), and when it holds C0/C1 controls, bidi controls or U+2028/2029. No mode with
 * setuid, setgid or sticky bits is set or kept.
 */
export const HOST_HELPER = String.raw`use strict; use warnings;
use Fcntl qw(:DEFAULT :mode); use Errno (); use Cwd (); use IO::Handle ();
sub refuse { print STDERR "refused: $_[0]\n"; exit 3 }
sub fail { print STDERR "failed: $_[0]\n"; exit 1 }
my ($op, $value, $path, @rest) = @ARGV;
fail("usage: chmod|chown|write VALUE PATH ... ROOT...") unless defined $path && defined $op && defined $value;
my ($expect, $create, $kind, $owners, $namere, $credre) = ("", "", "", "", "", "");
if ($op eq "write") { ($expect, $create) = splice(@rest, 0, 2) }
elsif ($op eq "restore") { ($kind) = splice(@rest, 0, 1) }
else { ($kind, $owners, $namere, $credre) = splice(@rest, 0, 4) }
defined $_ or fail("missing arguments") for ($expect, $create, $kind, $owners, $namere, $credre);
refuse("\"$path\" is not an absolute path") unless $path =~ m{^/};
refuse("\"$path\" contains a control character") if $path =~ /[\x00-\x1f\x7f]|\xC2[\x80-\x9F]/;
refuse("\"$path\" contains a bidirectional control or line separator character") if $path =~ /\xE2\x80[\xA8-\xAE]|\xE2\x81[\xA6-\xA9]/;
refuse("\"$path\" ends with \"/\"; name a folder without a trailing slash") if $path =~ m{./$};
refuse("no allowed roots") unless @rest;
my @roots;
for my $r (@rest) {
  refuse("root \"$r\" is not an absolute path") unless $r =~ m{^/};
  (my $n = $r) =~ s{/+$}{};
  push @roots, $n;
  my $real = Cwd::abs_path($r);
  if (defined $real) { $real =~ s{/+$}{}; push @roots, $real }
}
my $rootlist = join(", ", @rest);
sub under { my $p = shift; for my $r (@roots) { return 0 if $p eq $r } for my $r (@roots) { return 1 if index($p, "$r/") == 0 && length($p) > length($r) + 1 } return 0 }
sub isroot { my $p = shift; for my $r (@roots) { return 1 if $p eq $r } return 0 }
sub below { my $p = shift; my $best = ""; for my $r (@roots) { $best = $r if index($p, "$r/") == 0 && length($r) > length($best) } substr($p, length($best) + 1) }
sub live { my $p = shift; refuse("\"$path\" was removed while being checked") if $p =~ / \(deleted\)$/; $p }
if ($op eq "chmod" || $op eq "chown") {
  my ($mode, $uid, $gid) = (undef, -1, -1);
  if ($op eq "chmod") {
    refuse("mode \"$value\" is not a numeric mode") unless $value =~ /^0?[0-7]{3,4}$/;
    $mode = oct($value);
    refuse("mode \"$value\" sets a setuid, setgid or sticky bit") if $mode & 07000;
  } else {
    refuse("owner \"$value\" is not user, user:group or :group") unless $value =~ /^([A-Za-z0-9_][A-Za-z0-9_.-]*)?(?::([A-Za-z0-9_][A-Za-z0-9_.-]*))?$/ && (defined $1 || defined $2);
    my ($u, $g) = ($1, $2);
    if (defined $u) { $uid = $u =~ /^\d+$/ ? $u : scalar(getpwnam($u)); refuse("no user \"$u\" on this host") unless defined $uid }
    if (defined $g) { $gid = $g =~ /^\d+$/ ? $g : scalar(getgrnam($g)); refuse("no group \"$g\" on this host") unless defined $gid }
  }
  # Refuse what is not a file or folder before opening it (a FIFO or device is never opened).
  my @pre = lstat($path);
  fail("\"$path\": $!") unless @pre;
  refuse("\"$path\" is a symlink; nothing changed") if S_ISLNK($pre[2]);
  refuse("\"$path\" is neither a regular file nor a folder") unless S_ISREG($pre[2]) || S_ISDIR($pre[2]);
  sysopen(my $fh, $path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY)
    or ($! == Errno::ELOOP ? refuse("\"$path\" became a symlink; nothing changed") : fail("cannot open \"$path\": $!"));
  my @st = stat($fh) or fail("cannot stat \"$path\": $!");
  refuse("\"$path\" is neither a regular file nor a folder") unless S_ISREG($st[2]) || S_ISDIR($st[2]);
  refuse("\"$path\" has $st[3] hard links; another name of the same file may be outside $rootlist") if S_ISREG($st[2]) && $st[3] > 1;
  my $real = readlink("/proc/self/fd/" . fileno($fh));
  fail("cannot read the opened file's path from /proc: $!") unless defined $real;
  live($real);
  refuse("\"$path\" is \"$real\" on the host, which is a policy root itself; nothing changed") if isroot($real);
  refuse("\"$path\" is \"$real\" on the host, which is not under $rootlist") unless under($real);
  if ($kind ne "") {
    my $isdir = S_ISDIR($st[2]);
    refuse("\"$real\" is a folder; this rule applies to files only") if $kind eq "file" && $isdir;
    refuse("\"$real\" is a file; this rule applies to folders only") if $kind eq "dir" && !$isdir;
    my $u = getpwuid($st[4]); $u = $st[4] unless defined $u;
    my $g = getgrgid($st[5]); $g = $st[5] unless defined $g;
    my %site = map { $_ => 1 } split(/,/, $owners);
    refuse("\"$real\" belongs to $u:$g, not to one of the site's accounts ($owners): a file another owner locked was locked on purpose") unless $site{$u} || $site{$g};
    if ($namere ne "") {
      for my $seg (split(m{/}, below($real))) {
        refuse("\"$real\" looks protected on purpose (\"$seg\"); a human decides whether it should be readable") if $seg =~ /$namere/i;
      }
    }
    if ($credre ne "" && S_ISREG($st[2])) {
      my $head = "";
      defined(sysread($fh, $head, 65536)) or fail("cannot read \"$real\": $!");
      refuse("\"$real\" holds what looks like a credential; a human decides whether it should be readable") if $head =~ /$credre/i;
    }
  }
  if ($op eq "chmod") { chmod($mode, $fh) or fail("chmod \"$real\": $!") }
  else { chown($uid, $gid, $fh) or fail("chown \"$real\": $!") }
  print "$op $value $real\n";
  exit 0;
}
if ($op eq "restore") {
  # Put back the mode and owner recorded before a fix changed them: the exact old values (set-id
  # bits included, as they were), on the object opened without following a last symlink.
  my ($uid, $gid) = split(/:/, $kind, 2);
  refuse("restore needs MODE UID:GID") unless $value =~ /^[0-7]{1,5}$/ && defined $gid && $uid =~ /^\d+$/ && $gid =~ /^\d+$/;
  my @pre = lstat($path);
  fail("\"$path\": $!") unless @pre;
  refuse("\"$path\" is a symlink; nothing changed") if S_ISLNK($pre[2]);
  sysopen(my $fh, $path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY) or fail("cannot open \"$path\": $!");
  my $real = readlink("/proc/self/fd/" . fileno($fh));
  fail("cannot read the opened file's path from /proc: $!") unless defined $real;
  live($real);
  refuse("\"$path\" is \"$real\" on the host, which is a policy root itself; nothing changed") if isroot($real);
  refuse("\"$path\" is \"$real\" on the host, which is not under $rootlist") unless under($real);
  chown($uid, $gid, $fh) or fail("chown \"$real\": $!");
  chmod(oct($value), $fh) or fail("chmod \"$real\": $!");
  my @st = stat($fh);
  fail("\"$real\" is now mode " . sprintf("%o", $st[2] & 07777) . " $st[4]:$st[5], not $value $uid:$gid") unless ($st[2] & 07777) == oct($value) && $st[4] == $uid && $st[5] == $gid;
  print "restore $value $real\n";
  exit 0;
}
if ($op eq "write") {
  my $mode;
  if ($value ne "") { refuse("mode \"$value\" is not an octal mode") unless $value =~ /^0?[0-7]{3,4}$/; $mode = oct($value) }
  refuse("mode \"$value\" sets a setuid, setgid or sticky bit") if defined $mode && $mode & 07000;
  refuse("create mode \"$create\" is not an octal mode without special bits") unless $create =~ /^0?[0-7]{3}$/;
  my $p = $path;
  for (my $i = 0; -l $p; $i++) {
    refuse("\"$path\": too many levels of symlinks") if $i >= 40;
    my $t = readlink($p);
    fail("cannot read the symlink \"$p\": $!") unless defined $t;
    (my $dir = $p) =~ s{/[^/]*$}{};
    $p = $t =~ m{^/} ? $t : "$dir/$t";
  }
  my ($dir, $name) = $p =~ m{^(.*)/([^/]+)$} or refuse("\"$path\" resolves to \"$p\", which names no file");
  refuse("\"$path\" resolves to \"$p\", which names no file") if $name eq "." || $name eq "..";
  $dir = "/" if $dir eq "";
  chdir($dir) or fail("cannot enter the folder \"$dir\": $!");
  my $cwd = readlink("/proc/self/cwd");
  fail("cannot read the folder's path from /proc: $!") unless defined $cwd;
  live($cwd);
  my $real = $cwd eq "/" ? "/$name" : "$cwd/$name";
  refuse("\"$path\" resolves to \"$real\" on the host, which is not under $rootlist") unless under($real);
  refuse("\"$path\" resolves to \"$real\" now, not to \"$expect\" as when it was backed up; nothing written") if $expect ne "" && $real ne $expect;
  my ($uid, $gid) = (-1, -1);
  if (my @st = lstat($name)) {
    refuse("\"$real\" is not a regular file") unless S_ISREG($st[2]);
    $mode = $st[2] & 0777 & ~022 unless defined $mode;
    ($uid, $gid) = ($st[4], $st[5]);
  } elsif (!$!{ENOENT}) { fail("cannot stat \"$real\": $!") }
  $mode = oct($create) unless defined $mode;
  my ($tmp, $fh);
  for (1 .. 50) {
    my $t = sprintf(".mcpmon-%d-%06x", $$, int(rand(0x1000000)));
    if (sysopen($fh, $t, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600)) { $tmp = $t; last }
    fail("cannot create a temp file in \"$cwd\": $!") unless $!{EEXIST};
  }
  fail("cannot create a temp file in \"$cwd\"") unless defined $tmp;
  my $ok = eval {
    binmode(STDIN); binmode($fh);
    my $data = do { local $/; <STDIN> };
    $data = "" unless defined $data;
    print {$fh} $data or die "write: $!\n";
    $fh->flush or die "flush: $!\n";
    $fh->sync or die "fsync: $!\n";
    chown($uid, $gid, $fh) or die "chown: $!\n" if $uid >= 0;
    chmod($mode, $fh) or die "chmod: $!\n";
    close($fh) or die "close: $!\n";
    rename($tmp, $name) or die "rename: $!\n";
    1;
  };
  unless ($ok) { my $e = $@; unlink($tmp); chomp $e; fail("cannot write \"$real\": $e") }
  printf "write %04o %s\n", $mode, $real;
  exit 0;
}
fail("unknown operation \"$op\"");
`;

/** The argv that runs the helper; over SSH every element is quoted, so none can become syntax. */
export function helperArgv(op: "chmod" | "chown" | "write" | "restore", args: string[]): string[] {
  return ["perl", "-e", HOST_HELPER, "--", op, ...args];
}

/** chmod or chown of one path, checked and changed on one open descriptor. */
export async function changeByPath(
  transport: Transport,
  op: "chmod" | "chown",
  value: string,
  path: string,
  o: { roots: string[]; target: ChangeTarget; timeoutMs: number },
): Promise<ExecResult> {
  const guard = o.target.protected === "refuse";
  const args = [
    value,
    path,
    o.target.kind,
    o.target.owners.join(","),
    guard ? PROTECTED_NAME : "",
    guard ? CREDENTIAL_CONTENT : "",
    ...o.roots,
  ];
  return await transport.exec(helperArgv(op, args), { timeoutMs: o.timeoutMs });
}

/**
 * write_file: the resolved file is written (a symlink is followed, never replaced), after the
 * resolved path is checked against `roots` and, when `expect` is given, found to be the path that
 * was backed up. `mode` undefined keeps the resolved file's mode minus group/other write.
 */
export async function writeResolved(
  transport: Transport,
  o: {
    path: string;
    content: string;
    mode?: string;
    /** Mode of a file that does not exist yet (the rule's create_mode). */
    createMode: string;
    roots: string[];
    expect?: string;
    timeoutMs: number;
  },
): Promise<ExecResult> {
  const argv = helperArgv("write", [o.mode ?? "", o.path, o.expect ?? "", o.createMode, ...o.roots]);
  return await transport.exec(argv, {
    stdin: o.content,
    timeoutMs: o.timeoutMs,
  });
}

/** The real path the helper reports on success ("write 0644 /etc/nginx/sites-available/x"). */
export function helperTarget(r: ExecResult): string | undefined {
  const m = /^(?:chmod|chown|write|restore) \S+ (\/.*)$/m.exec(r.stdout);
  return m?.[1];
}

/** A path as the policy compares it: normalised, without a trailing slash. */
export function normalPath(p: string): string {
  return posix.normalize(p).replace(/\/+$/, "") || "/";
}

/**
 * A step the helper (or the step's own check) refused: nothing was changed on the host. The helper
 * exits 3 with "refused: …"; a step refused before reaching the host has no exit code.
 */
export function isHostRefusal(step: { exit_code?: number | null; stderr?: string }): boolean {
  return (step.exit_code === 3 || step.exit_code === undefined) && /^refused: /m.test(step.stderr ?? "");
}

/** The helper's reason, without its "refused: " prefix. */
export function hostRefusal(step: { stderr?: string }): string {
  return (/^refused: (.*)$/m.exec(step.stderr ?? "")?.[1] ?? "refused").trim();
}

/** Put back a mode and owner recorded before a fix changed them (checked and set on one descriptor). */
export async function restoreByPath(
  transport: Transport,
  o: { path: string; mode: number; uid: number; gid: number; roots: string[]; timeoutMs: number },
): Promise<ExecResult> {
  const argv = helperArgv("restore", [o.mode.toString(8), o.path, `${o.uid}:${o.gid}`, ...o.roots]);
  return await transport.exec(argv, { timeoutMs: o.timeoutMs });
}
