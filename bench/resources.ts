// W6 and W7: what a server costs beside its rate. W6, how much a CGI load
// on the same porta delays its static answers (p99 beside ÷ alone); W7, the
// memory 10,000 idle keep-alive connections hold (RSS and PSS of the
// server's processes).

import type { Docroot } from './docroot';
import { HELLO_SH_TEXT } from './docroot';
import {
  chosen,
  closeSample,
  runAlternating,
  sample,
  type Context,
  type Step,
  type WorkloadResult,
  WARMUP_S,
} from './harness';
import { openIdle } from './idle';
import { keepLoad } from './keepload';
import { startServer, type StartOptions } from './servers';
import { openFileLimit, sleep, spawnTracked, treePssMiB, treeRssMiB, type LoadResult } from './util';

export async function w6(ctx: Context, docroot: Docroot): Promise<WorkloadResult> {
  const started = await startServer('porta', docroot);
  if (!started.ok) throw new Error(`W6 needs porta: ${started.skipped}`);
  const porta = started.server;
  // keepload, not autocannon: autocannon keeps latency in whole milliseconds, too coarse for a p99 ratio.
  const staticLoad = async (durationS: number) =>
    closeSample(await keepLoad({ port: porta.port, path: '/1k.bin', connections: 50, durationS }));
  // The CGI load runs in a process of its own, so the two clients do not share one event loop.
  const cgiLoad = (durationS: number) =>
    new Promise<LoadResult>((resolve, reject) => {
      const child = spawnTracked(process.execPath, [
        `${__dirname}/closeload.js`,
        '--port',
        String(porta.port),
        '--path',
        '/cgi-bin/hello.sh',
        '--expect',
        HELLO_SH_TEXT,
        '--connections',
        '16',
        '--duration',
        String(durationS),
      ]);
      let out = '';
      child.stdout?.on('data', (c: Buffer) => {
        out += c.toString();
      });
      child.on('error', reject);
      child.on('exit', (code) => {
        try {
          if (code !== 0) throw new Error(`closeload exited ${code}`);
          resolve(JSON.parse(out) as LoadResult);
        } catch (err) {
          reject(err as Error);
        }
      });
    });
  try {
    return await runAlternating(ctx, {
      name: 'W6',
      title:
        'porta: GET /1k.bin, 50 conns, keep-alive alone, then while W4 (hello.sh, 16 conns) runs on the same porta',
      tool: 'keepload + closeload (separate process)',
      ratioMetric: 'p99',
      reference: 'static beside CGI',
      ratioNote: 'static p99 beside CGI ÷ static p99 alone (the interference factor)',
      compare: ['static alone'],
      notes: [
        'static: keepload (bench/keepload.ts), 50 keep-alive connections, GET /1k.bin, latency request written to last byte ' +
          'with sub-ms precision (autocannon rounds latency to whole ms, too coarse for a p99 ratio)',
        'CGI: closeload (bench/closeload.ts) in a process of its own, 16 connections, /cgi-bin/hello.sh, latency connect to EOF',
      ],
      steps: [
        {
          labels: ['static alone'],
          warmup: async () => void (await staticLoad(WARMUP_S)),
          measure: async () => ({ 'static alone': await staticLoad(ctx.durationS) }),
        },
        {
          labels: ['static beside CGI', 'CGI beside static'],
          warmup: async () => void (await cgiLoad(WARMUP_S)),
          measure: async () => {
            const [s, c] = await Promise.all([staticLoad(ctx.durationS), cgiLoad(ctx.durationS)]);
            return { 'static beside CGI': s, 'CGI beside static': closeSample(c) };
          },
        },
      ],
    });
  } finally {
    await porta.stop();
  }
}

export async function w7(ctx: Context, docroot: Docroot): Promise<WorkloadResult> {
  const limit = openFileLimit();
  let count = 10_000;
  const notes: string[] = [];
  if (limit < count + 200) {
    count = Math.min(9_000, limit - 500);
    notes.push(`ulimit -n is ${limit}: ${count} connections instead of 10,000`);
  }
  const servers = chosen(ctx, ['porta', 'porta-1p', 'node', 'lighttpd']);
  const steps: Step[] = servers.map(({ name }) => ({
    labels: [name],
    measure: async () => {
      // A fresh server each round: RSS from the same starting point every time.
      const options: StartOptions = { keepAliveSeconds: 60 };
      const started = await startServer(name, docroot, options);
      if (!started.ok) throw new Error(`${name}: ${started.skipped}`);
      const server = started.server;
      try {
        await sleep(300);
        const before = treeRssMiB(server.pid);
        const t0 = performance.now();
        const idle = await openIdle(server.port, '/1k.bin', count);
        const openSeconds = (performance.now() - t0) / 1000;
        await sleep(1000);
        const rss = treeRssMiB(server.pid);
        const pss = treePssMiB(server.pid);
        const open = idle.open();
        idle.closeAll();
        return {
          [name]: sample({
            rss,
            errors: count - open,
            extra: {
              open,
              'RSS before': before,
              ...(pss === null ? {} : { PSS: pss }),
              'KiB/conn': ((rss - before) * 1024) / Math.max(1, open),
              'open s': openSeconds,
            },
          }),
        };
      } finally {
        await server.stop();
      }
    },
  }));
  notes.push(
    'porta is its default (a primary that never serves + one worker); porta-1p is --workers 0 (one process). ' +
      "PSS: the processes' proportional set size summed (a page shared by two processes counts half in each: " +
      'the node binary once, where the RSS sum counts it twice)',
  );
  notes.push(
    'each connection sent one GET /1k.bin and read the answer; porta --keepalive-timeout 60, node keepAliveTimeout 60 s, ' +
      'lighttpd max-keep-alive-idle 60 (bench/lighttpd.conf.template)',
  );
  return runAlternating(ctx, {
    name: 'W7',
    title: `${count.toLocaleString('en-US')} idle keep-alive connections: VmRSS of the server's processes`,
    tool: 'own client (bench/idle.ts)',
    ratioMetric: 'rss',
    reference: 'porta',
    ratioNote: 'porta RSS ÷ row RSS (below 1: porta uses less)',
    steps,
    notes,
  });
}
