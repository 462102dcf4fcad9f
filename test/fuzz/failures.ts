// How both fuzzers keep their failures: by kind (the first problem of an
// input, numbers and quoted bytes taken out), the first input of each kind
// shown in full with the command that replays it, the rest counted with a few
// indexes to replay. One bug makes one kind, so a run that trips on it keeps
// going and can still find the next.

export interface Failure {
  seed: number;
  index: number;
  parser: string;
  reason: string;
  /** The input, what happened to it, what came out, the log, the replay command. */
  details: string[];
}

export class FailureBook {
  /** The first failure of each kind. */
  readonly shown: Failure[] = [];
  /** Failing inputs, all kinds. */
  failed = 0;
  readonly #kinds = new Map<string, { count: number; examples: string[] }>();

  /** Record `failure`; true when it is the first of its kind (the caller shows it). */
  record(failure: Failure): boolean {
    this.failed++;
    const kind = failureKind(failure.reason);
    const known = this.#kinds.get(kind) ?? { count: 0, examples: [] };
    this.#kinds.set(kind, known);
    known.count++;
    if (known.examples.length < 8) known.examples.push(`${failure.index}/${failure.parser}`);
    if (known.count > 1) return false;
    this.shown.push(failure);
    return true;
  }

  get kinds(): number {
    return this.#kinds.size;
  }

  /** One line per kind: how many, and inputs to replay. */
  lines(): string[] {
    return [...this.#kinds.entries()].map(
      ([kind, k]) => `  ${k.count}× ${kind} (--index/--parser: ${k.examples.join(', ')})`,
    );
  }
}

/** A failure's reason with its numbers and quoted bytes taken out: failures of one kind share it. */
export function failureKind(reason: string): string {
  return reason
    .replace(/"(?:[^"\\]|\\.)*"/g, '"…"')
    .replace(/\d+/g, 'N')
    .slice(0, 100);
}

export function formatFailure(f: Failure): string {
  return [`FAIL seed ${f.seed} index ${f.index} (${f.parser}): ${f.reason}`, ...f.details.map((d) => `  ${d}`)].join(
    '\n',
  );
}
