// autocannon through its Node API, reduced to a Sample.

import autocannon from 'autocannon';
import { sample, type Sample } from './harness';
import { MiB } from './util';

export interface CannonOptions {
  port: number;
  path: string;
  connections: number;
  pipelining?: number;
  durationS: number;
}

export function cannon(options: CannonOptions): Promise<Sample> {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: `http://127.0.0.1:${options.port}${options.path}`,
        connections: options.connections,
        pipelining: options.pipelining ?? 1,
        duration: options.durationS,
        timeout: 10,
      },
      (err, result) => {
        if (err !== null) return reject(err);
        const seconds = result.duration > 0 ? result.duration : options.durationS;
        // Totals over the run's length, not the mean of one-second samples
        // (which leaves out the last partial second).
        resolve(
          sample({
            rps: (result.requests.total ?? 0) / seconds,
            mibps: (result.throughput.total ?? 0) / MiB / seconds,
            p50: result.latency.p50,
            p99: result.latency.p99,
            errors: result.errors + result.mismatches,
            non2xx: result.non2xx,
          }),
        );
      },
    );
  });
}
