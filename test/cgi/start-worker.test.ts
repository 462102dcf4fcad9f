// The spawn addon's other start: vfork on a libuv worker thread, the one used
// where clone3 is refused (old kernels, seccomp filters). PORTA_SPAWN_WORKER
// is read when the addon loads, which is after this line in this process.

import t from 'tap';
import { startCases } from './start-cases';

process.env['PORTA_SPAWN_WORKER'] = '1';
startCases(t);
