// The spawn addon's start from the event loop (clone3), where the kernel
// allows it; the cases are in start-cases.ts.

import t from 'tap';
import { startCases } from './start-cases';

startCases(t);
