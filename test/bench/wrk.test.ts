// bench/wrk.ts reads wrk's report: these are two reports wrk 4.1.0 printed on
// this machine (against porta: a 1 KiB file, then a missing path), and one
// with socket errors. The W1-wrk/W2-wrk figures are only as right as this.

import t from 'tap';
import { parseWrk } from '../../bench/wrk';

const OK = `Running 1s test @ http://127.0.0.1:18194/1k.bin
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   301.18us    1.34ms  19.15ms   96.26%
    Req/Sec    57.50k    28.54k   80.67k    72.73%
  Latency Distribution
     50%   54.00us
     75%   97.00us
     90%  326.00us
     99%    5.43ms
  62643 requests in 1.10s, 76.53MB read
Requests/sec:  56978.85
Transfer/sec:     69.61MB
`;

const NOT_FOUND = `Running 1s test @ http://127.0.0.1:18194/missing
  1 threads and 4 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   144.09us  329.73us   4.71ms   95.09%
    Req/Sec    49.82k    14.67k   60.23k    81.82%
  Latency Distribution
     50%   68.00us
     75%   98.00us
     90%  194.00us
     99%    1.87ms
  54424 requests in 1.10s, 16.92MB read
  Non-2xx or 3xx responses: 54424
Requests/sec:  49479.29
Transfer/sec:     15.38MB
`;

const ERRORS = `Running 10s test @ http://127.0.0.1:8080/1k.bin
  1 threads and 50 connections
  Latency Distribution
     50%    1.20ms
     75%    2.00ms
     90%    3.00ms
     99%    1.05s
  700000 requests in 10.00s, 1.20GB read
  Socket errors: connect 2, read 3, write 0, timeout 7
Requests/sec:  70000.00
Transfer/sec:    122.88MB
`;

t.test('totals, percentiles and throughput from a clean run', async (t) => {
  const s = parseWrk(OK);
  t.equal(Math.round(s.rps), Math.round(62643 / 1.1), 'requests ÷ the seconds wrk reports (not Requests/sec, rounded)');
  t.equal(s.p50, 0.054, '50 % in µs → ms');
  t.equal(s.p99, 5.43, '99 % in ms');
  t.equal(Number(s.mibps.toFixed(2)), Number((76.53 / 1.1).toFixed(2)), 'MB (MiB) read ÷ seconds');
  t.equal(s.errors, 0);
  t.equal(s.non2xx, 0);
});

t.test('non-2xx answers are counted', async (t) => {
  const s = parseWrk(NOT_FOUND);
  t.equal(s.non2xx, 54424);
  t.equal(s.errors, 0);
});

t.test('socket errors are summed; seconds and GB units', async (t) => {
  const s = parseWrk(ERRORS);
  t.equal(s.errors, 12, 'connect + read + write + timeout');
  t.equal(s.rps, 70000);
  t.equal(s.p99, 1050, '1.05s → ms');
  t.equal(Number(s.mibps.toFixed(2)), Number(((1.2 * 1024) / 10).toFixed(2)), 'GB → MiB');
});

t.test('a report without totals is refused, not read as zero', async (t) => {
  t.throws(() => parseWrk('unable to connect to 127.0.0.1:1 Connection refused\n'), /no totals/);
});
