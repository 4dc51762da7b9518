/**
 * The fuzz harness: what a target is, how one case runs and is judged, and the per-target tally.
 *
 * A case is (seed, target, index): its own {@link Rng} picks an original input of the target and
 * mutates it; the mutant goes through the original's `open` (the library call under test) and the
 * outcome is judged:
 *
 * - a thrown `FieldcryptError` with a documented code that the original lists as possible is the
 *   expected outcome, counted by code (as is a {@link Rejection}, a failure reported by value);
 * - an accepted mutant is expected only when {@link Target.accept} says it is valid — identical to
 *   an original of its group (a mutation that changed nothing, a splice that rebuilt a cell), or
 *   another valid input by the format's own rules (an audit head with another number) — and then
 *   its value must be the expected one;
 * - everything else is a failure: an untyped error, an unknown or unexpected code, an opaque
 *   failure that is not opaque, an unexpected success, a second spelling accepted by a format that
 *   must be canonical, a wrong value, a valid input rejected.
 */
import { FieldcryptError } from "fieldcrypt/errors";
import { isDocumentedCode } from "./codes.js";
import { kindsOf, type Mutation, mutate, type Shape } from "./mutate.js";
import { Rng } from "./prng.js";

export const TARGET_NAMES = ["cells", "legacy", "wrapped-key", "audit"] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

/** A failure reported by value rather than thrown (`verifyAudit`'s `{ ok: false, reason }`). */
export class Rejection {
  constructor(readonly label: string) {}
}

/** Why an accepted mutant is fine, and what it must open to. */
export interface Acceptance {
  /** `identical`, `another-valid`, or `spelling:<what differs>`. */
  readonly reason: string;
  readonly value: unknown;
  /** True when rejecting it is a failure (an original must always open). */
  readonly mustOpen: boolean;
  /** False when accepting it is a failure (a second spelling of a canonical format). */
  readonly allowed: boolean;
}

/** One valid input of a target, and how the library opens it. */
export interface Original {
  readonly id: string;
  /** Originals of one group open with the same call (same keys, same context). */
  readonly group: string;
  readonly input: unknown;
  readonly expected: unknown;
  /** How the generic mutators see the input; a target with its own `mutate` may leave it out. */
  readonly shape?: Shape | undefined;
  /** How often this original is picked relative to the others of its target (default 1). */
  readonly weight?: number | undefined;
  /** Outcome labels (error codes, rejection labels) that a mutant of this original may get. */
  readonly codes: ReadonlySet<string>;
  open(input: unknown): unknown;
  /** The authenticated content of an input, spelling aside (undefined: not even structurally this). */
  semantic?(input: unknown): string | undefined;
  /** True for an input the call returns as it is, by design (a transition-mode column's plaintext). */
  passThrough?: ((input: unknown) => boolean) | undefined;
}

/** A thing to fuzz: its originals and, optionally, its own mutator and acceptance rule. */
export interface Target {
  readonly name: string;
  readonly originals: readonly Original[];
  /** Whether an accepted second spelling of an original is a failure or a tolerated, counted finding. */
  readonly spellings: "reject" | "tolerate";
  /** Why spellings are tolerated, for the summary. */
  readonly spellingNote?: string | undefined;
  /** A target's own mutator; `generic` is the shape-based one (for originals it leaves to it). */
  mutate?(rng: Rng, original: Original, generic: () => Mutation): Mutation;
  /** A target's own acceptance rule: `null` for "must fail", `undefined` to use the default rule. */
  accept?(input: unknown, original: Original): Acceptance | null | undefined;
}

export type FailureType =
  | "untyped"
  | "unknown-code"
  | "unexpected-code"
  | "opaque-failure-not-opaque"
  | "unexpected-success"
  | "spelling-accepted"
  | "wrong-value"
  | "valid-rejected";

/** One failing case, enough to replay it: `--seed <seed> --target <target> --index <index>`. */
export interface FailureSample {
  readonly target: string;
  readonly index: number;
  readonly original: string;
  readonly kind: string;
  readonly note: string;
  readonly failure: FailureType;
  readonly detail: string;
}

/** An accepted mutant that the target tolerates without requiring it (a second spelling, an unauthenticated hint). */
export interface ToleratedSample {
  readonly index: number;
  readonly original: string;
  readonly kind: string;
  readonly note: string;
  readonly outcome: string;
}

export interface KindTally {
  mutations: number;
  outcomes: Record<string, number>;
}

export interface TargetSummary {
  mutations: number;
  /** By outcome: `ERR_*` codes, `verify:<reason>`, `accepted:<reason>`, `untyped:<name>`. */
  outcomes: Record<string, number>;
  kinds: Record<string, KindTally>;
  failures: Partial<Record<FailureType, number>>;
  samples: FailureSample[];
  /** Mutants that are another spelling of an original (spec-wise the same input): how many opened. */
  secondSpellings: { accepted: number; rejected: number };
  tolerated: ToleratedSample[];
}

/** What one case did. */
export interface CaseResult {
  readonly original: string;
  readonly kind: string;
  readonly note: string;
  readonly input: unknown;
  readonly outcome: string;
  readonly failure?: FailureType | undefined;
  readonly detail?: string | undefined;
  /** Set when the mutant is a second spelling of an original: whether it opened. */
  readonly spelling?: "accepted" | "rejected" | undefined;
  /** True when it opened, which was allowed but not required. */
  readonly tolerated?: boolean | undefined;
}

const MAX_SAMPLES = 20;
const TOLERATED_PER_OUTCOME = 3;

/** The targets' prepared lookups: originals by group and input, partners for splices. */
interface Prepared {
  readonly target: Target;
  readonly byInput: Map<string, Original>;
  readonly bySemantic: Map<string, Original>;
  readonly partners: Map<string, readonly Shape[]>;
  /** Running sums of the originals' weights, for picking one. */
  readonly cumulative: readonly number[];
}

const prepared = new WeakMap<Target, Prepared>();

function prepare(target: Target): Prepared {
  let p = prepared.get(target);
  if (p !== undefined) return p;
  const byInput = new Map<string, Original>();
  const bySemantic = new Map<string, Original>();
  const partners = new Map<string, Shape[]>();
  for (const original of target.originals) {
    byInput.set(`${original.group}\0${inputKey(original.input)}`, original);
    const semantic = original.semantic?.(original.input);
    if (semantic !== undefined) bySemantic.set(`${original.group}\0${semantic}`, original);
    const shape = original.shape;
    if (shape !== undefined) {
      const list = partners.get(shape.form) ?? [];
      list.push(shape);
      partners.set(shape.form, list);
    }
  }
  let sum = 0;
  const cumulative = target.originals.map((o) => (sum += o.weight ?? 1));
  p = { target, byInput, bySemantic, partners, cumulative };
  prepared.set(target, p);
  return p;
}

/** A key that tells inputs apart exactly: the text, or the bytes in hex. */
export function inputKey(input: unknown): string {
  if (typeof input === "string") return `t:${input}`;
  if (input instanceof Uint8Array)
    return `b:${Buffer.from(input.buffer, input.byteOffset, input.length).toString("hex")}`;
  return `j:${JSON.stringify(input, (_, v) => (typeof v === "bigint" ? `${v}n` : v))}`;
}

/** The default acceptance rule: identical to an original of the group, or the same content spelled otherwise. */
function defaultAccept(p: Prepared, input: unknown, original: Original): Acceptance | undefined {
  if (original.passThrough?.(input) === true)
    return { reason: "passed-through", value: input, mustOpen: true, allowed: true };
  const same = p.byInput.get(`${original.group}\0${inputKey(input)}`);
  if (same !== undefined) return { reason: "identical", value: same.expected, mustOpen: true, allowed: true };
  const semantic = original.semantic?.(input);
  if (semantic === undefined) return undefined;
  const twin = p.bySemantic.get(`${original.group}\0${semantic}`);
  if (twin === undefined) return undefined;
  const allowed = p.target.spellings === "tolerate";
  return { reason: `spelling:${describeSpelling(input, twin.input)}`, value: twin.expected, mustOpen: false, allowed };
}

/** Runs case `index` of `target` under `seed`. */
export async function runCase(target: Target, seed: string, index: number): Promise<CaseResult> {
  const p = prepare(target);
  const rng = new Rng(seed, `${target.name}/${index}`);
  const original = pickOriginal(rng, p);
  const generic = (): Mutation =>
    mutate(rng, original.shape as Shape, p.partners.get((original.shape as Shape).form) ?? []);
  const m = target.mutate !== undefined ? target.mutate(rng, original, generic) : generic();
  let threw = false;
  let error: unknown;
  let value: unknown;
  try {
    value = original.open(m.input);
    if (value instanceof Promise) value = await value;
  } catch (e) {
    threw = true;
    error = e;
  }
  const accept = (): Acceptance | undefined => {
    const own = target.accept?.(m.input, original);
    return own === null ? undefined : (own ?? defaultAccept(p, m.input, original));
  };
  const verdict = threw ? judgeError(error, original, accept) : judgeValue(value, original, accept);
  return { original: original.id, kind: m.kind, note: m.note, input: m.input, ...verdict };
}

/** An original by weight (with equal weights, the same one as `rng.pick`). */
function pickOriginal(rng: Rng, p: Prepared): Original {
  const total = p.cumulative[p.cumulative.length - 1] ?? 0;
  const x = (rng.u32() / 0x1_0000_0000) * total;
  let i = 0;
  while (i < p.cumulative.length - 1 && (p.cumulative[i] as number) <= x) i++;
  return p.target.originals[i] as Original;
}

type Verdict = {
  outcome: string;
  failure?: FailureType;
  detail?: string;
  spelling?: "accepted" | "rejected";
  tolerated?: boolean;
};

const isSpelling = (a: Acceptance | undefined): boolean => a?.reason.startsWith("spelling:") === true;

function judgeError(error: unknown, original: Original, accept: () => Acceptance | undefined): Verdict {
  if (!(error instanceof FieldcryptError)) {
    const name = error instanceof Error ? error.name : typeof error;
    return { outcome: `untyped:${name}`, failure: "untyped", detail: describeError(error) };
  }
  const code = error.code;
  if (!isDocumentedCode(code)) return { outcome: `unknown:${String(code)}`, failure: "unknown-code" };
  if (code === "ERR_DECRYPTION_FAILED" && (error.message !== "decryption failed" || error.cause !== undefined)) {
    return { outcome: code, failure: "opaque-failure-not-opaque", detail: describeError(error) };
  }
  return judgeRejection(code, original, accept, describeError(error));
}

function judgeRejection(
  label: string,
  original: Original,
  accept: () => Acceptance | undefined,
  detail: string,
): Verdict {
  const acceptance = accept();
  if (acceptance?.mustOpen === true) {
    return { outcome: label, failure: "valid-rejected", detail: `${acceptance.reason}: ${detail}` };
  }
  const spelling = isSpelling(acceptance) ? { spelling: "rejected" as const } : {};
  if (!original.codes.has(label)) return { outcome: label, failure: "unexpected-code", detail, ...spelling };
  return { outcome: label, ...spelling };
}

function judgeValue(value: unknown, original: Original, accept: () => Acceptance | undefined): Verdict {
  if (value instanceof Rejection) return judgeRejection(value.label, original, accept, value.label);
  const acceptance = accept();
  if (acceptance === undefined) {
    const same = sameValue(value, original.expected) ? "the original's value" : "another value";
    return { outcome: "accepted:unexpected", failure: "unexpected-success", detail: `opened to ${same}` };
  }
  const outcome = `accepted:${acceptance.reason}`;
  const spelling = isSpelling(acceptance) ? { spelling: "accepted" as const } : {};
  if (!sameValue(value, acceptance.value)) return { outcome, failure: "wrong-value", detail: acceptance.reason };
  if (!acceptance.allowed) return { outcome, failure: "spelling-accepted", detail: acceptance.reason, ...spelling };
  return { outcome, ...spelling, tolerated: !acceptance.mustOpen };
}

/** An error's name, code and message (the library's never hold secrets; the fuzzer's keys are test keys). */
function describeError(error: unknown): string {
  if (!(error instanceof Error)) return typeof error;
  const code = (error as { code?: unknown }).code;
  const text = `${error.name}${typeof code === "string" ? ` ${code}` : ""}: ${error.message}`;
  return text.length > 240 ? `${text.slice(0, 240)}…` : text;
}

/** Runs cases [from, to) of `target` and tallies them; `onCase` is called after each (progress). */
export async function fuzzTarget(
  target: Target,
  seed: string,
  from: number,
  to: number,
  onCase?: () => void,
): Promise<TargetSummary> {
  const summary = emptySummary();
  for (let index = from; index < to; index++) {
    const r = await runCase(target, seed, index);
    tally(summary, r);
    if (r.failure !== undefined) {
      summary.failures[r.failure] = (summary.failures[r.failure] ?? 0) + 1;
      if (summary.samples.length < MAX_SAMPLES) {
        const { original, kind, note, failure, detail = "" } = r;
        summary.samples.push({ target: target.name, index, original, kind, note, failure, detail });
      }
    }
    if (
      r.tolerated === true &&
      summary.tolerated.filter((t) => t.outcome === r.outcome).length < TOLERATED_PER_OUTCOME
    ) {
      summary.tolerated.push({ index, original: r.original, kind: r.kind, note: r.note, outcome: r.outcome });
    }
    onCase?.();
  }
  return summary;
}

export function emptySummary(): TargetSummary {
  return {
    mutations: 0,
    outcomes: {},
    kinds: {},
    failures: {},
    samples: [],
    secondSpellings: { accepted: 0, rejected: 0 },
    tolerated: [],
  };
}

function tally(summary: TargetSummary, r: CaseResult): void {
  summary.mutations++;
  if (r.spelling !== undefined) summary.secondSpellings[r.spelling]++;
  summary.outcomes[r.outcome] = (summary.outcomes[r.outcome] ?? 0) + 1;
  const kind = summary.kinds[r.kind] ?? { mutations: 0, outcomes: {} };
  summary.kinds[r.kind] = kind;
  kind.mutations++;
  kind.outcomes[r.outcome] = (kind.outcomes[r.outcome] ?? 0) + 1;
}

/** Adds `b` into `a` (summaries of index ranges run by different workers). */
export function mergeSummary(a: TargetSummary, b: TargetSummary): TargetSummary {
  a.mutations += b.mutations;
  addCounts(a.outcomes, b.outcomes);
  for (const [kind, t] of Object.entries(b.kinds)) {
    const into = a.kinds[kind] ?? { mutations: 0, outcomes: {} };
    a.kinds[kind] = into;
    into.mutations += t.mutations;
    addCounts(into.outcomes, t.outcomes);
  }
  addCounts(a.failures as Record<string, number>, b.failures as Record<string, number>);
  a.samples = [...a.samples, ...b.samples].sort((x, y) => x.index - y.index).slice(0, MAX_SAMPLES);
  const tolerated = [...a.tolerated, ...b.tolerated].sort((x, y) => x.index - y.index);
  a.tolerated = tolerated.filter(
    (t, i) => tolerated.slice(0, i).filter((u) => u.outcome === t.outcome).length < TOLERATED_PER_OUTCOME,
  );
  a.secondSpellings.accepted += b.secondSpellings.accepted;
  a.secondSpellings.rejected += b.secondSpellings.rejected;
  return a;
}

function addCounts(into: Record<string, number>, from: Record<string, number>): void {
  for (const [k, n] of Object.entries(from)) into[k] = (into[k] ?? 0) + n;
}

/** The kinds every original of `target` can get (for coverage checks). */
export function kindsOfTarget(target: Target): Set<string> {
  return new Set(target.originals.flatMap((o) => (o.shape === undefined ? [] : kindsOf(o.shape))));
}

/** Deep equality of decrypted values: bytes by content, NaN equal to NaN, -0 apart from 0, Dates by time. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && Buffer.from(a).equals(Buffer.from(b));
  }
  if (a instanceof Date || b instanceof Date) {
    return a instanceof Date && b instanceof Date && Object.is(a.getTime(), b.getTime());
  }
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && sameValue((a as never)[k], (b as never)[k]));
}

/** What differs between two spellings of the same content, in a word. */
export function describeSpelling(mutant: unknown, original: unknown): string {
  const m = typeof mutant === "string" ? mutant : Buffer.from(mutant as Uint8Array).toString("latin1");
  const o = typeof original === "string" ? original : Buffer.from(original as Uint8Array).toString("latin1");
  const unpad = (s: string): string => s.replace(/=/g, "");
  const urlSafe = (s: string): string => unpad(s).replace(/\+/g, "-").replace(/\//g, "_");
  if (typeof mutant !== typeof original) return "form";
  if (unpad(m) === unpad(o)) return "padding";
  if (urlSafe(m) === urlSafe(o)) return "alphabet";
  if (m.trim() === o.trim()) return "whitespace";
  if (m.toLowerCase() === o.toLowerCase()) return "case";
  if (isJsonTwin(m, o)) return "json";
  if (m.length === o.length && [...m].filter((c, i) => c !== o[i]).length === 1) return "spare-bits";
  return "other";
}

function isJsonTwin(m: string, o: string): boolean {
  try {
    return sameValue(JSON.parse(m), JSON.parse(o));
  } catch {
    return false;
  }
}
