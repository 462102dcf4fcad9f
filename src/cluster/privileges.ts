// --user NAME: the serving process binds its sockets as root (a port below
// 1024, say), then becomes NAME for good, as nginx's workers do. Groups first,
// then the group, then the user: after setuid nothing could be changed back.

import { chooseCgiUser } from '../cgi/user';

export function dropPrivileges(name: string): void {
  if (process.geteuid?.() !== 0) throw new Error(`--user ${name} needs porta to start as root`);
  const choice = chooseCgiUser(name, () => null);
  if (choice.kind === 'error') throw new Error(choice.message.replace('CGI user', 'user'));
  if (choice.kind === 'same') return; // --user root: nothing to drop
  const { uid, gid } = choice.user;
  process.setgroups?.([gid]);
  process.setgid?.(gid);
  process.setuid?.(uid);
}
