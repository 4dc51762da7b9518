/**
 * The base of the service-backed root keys (`fieldcrypt/kms/aws`, `/gcp`, `/vault`; not reachable
 * from any subpath): what every one of them does the same way, so that each provider holds only the
 * service call and how the service says "this does not open".
 *
 * - arguments checked, an empty data key refused, the wrapped-key header written and checked
 *   (wrapped-key.ts);
 * - one deadline per call, retries included: the call gets an `AbortSignal`, and the call is
 *   abandoned (`RootKeyUnavailable` "timeout") when it fires, whether or not the service honours it;
 * - every foreign failure mapped to `KeyUnwrapFailed` (only where the provider says the service
 *   rejected the ciphertext or its associated data) or `RootKeyUnavailable` naming a short kind,
 *   never the service's message; fieldcrypt errors thrown by the provider pass through as they are;
 * - `toString`, `toJSON` and `inspect` built from the ids the provider shows, its client or token
 *   always `[redacted]`.
 *
 * @internal
 */
import { inspect } from "node:util";
import { InvalidOption, isFieldcryptError } from "../errors/index.js";
import { bytesArg, unavailable } from "./cloud-wrapped.js";
import { KeyUnwrapFailed } from "./errors.js";
import type { RootKeyProvider } from "./provider.js";
import { wrappedBody, wrappedHeader } from "./wrapped-key.js";

/** What a provider answers for a foreign error: the service rejected the ciphertext, or a short kind. */
export const REJECTED = Symbol("rejected");

/** What a provider shows of itself: its class name, JSON `type`, the ids it shows, the field it redacts. */
export interface CloudRootKeyDescription {
  readonly name: string;
  readonly type: string;
  readonly shown: Readonly<Record<string, string>>;
  readonly redacted: string;
}

export abstract class CloudRootKey implements RootKeyProvider {
  readonly id: string;
  /** The time limit of one call, in milliseconds (for clients that take their own per-attempt limit). */
  protected readonly timeoutMs: number;
  readonly #header: Buffer;

  /** `magic` names the provider in the wrapped-key header (`FCA`, `FCG`, `FCV`). */
  protected constructor(id: string, magic: string, timeoutMs: number) {
    this.id = id;
    this.#header = wrappedHeader(magic, id);
    this.timeoutMs = timeoutMs;
  }

  /** The service's ciphertext of `dataKey` bound to `aad` (non-empty). */
  protected abstract seal(dataKey: Buffer, aad: Buffer, signal: AbortSignal): Promise<Uint8Array>;
  /** The data key inside the service's `ciphertext`, checked against `aad` by the service. */
  protected abstract open(ciphertext: Buffer, aad: Buffer, signal: AbortSignal): Promise<Uint8Array>;
  /** {@link REJECTED} when a failed `open` means "does not open here"; otherwise a short kind. */
  protected abstract classify(error: unknown, opening: boolean): typeof REJECTED | string;
  protected abstract describe(): CloudRootKeyDescription;

  async wrap(dataKey: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    const plain = bytesArg(dataKey, "dataKey");
    if (plain.length === 0) throw new InvalidOption("dataKey must not be empty");
    const context = bytesArg(aad, "aad");
    const body = await this.#call(false, (signal) => this.seal(plain, context, signal));
    return Buffer.concat([this.#header, body]);
  }

  async unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    const body = wrappedBody(this.#header, this.id, bytesArg(wrapped, "wrapped"));
    const context = bytesArg(aad, "aad");
    return this.#call(true, (signal) => this.open(body, context, signal));
  }

  async #call(opening: boolean, call: (signal: AbortSignal) => Promise<Uint8Array>): Promise<Uint8Array> {
    const signal = AbortSignal.timeout(this.timeoutMs);
    let onAbort = (): void => {};
    const deadline = new Promise<never>((_, reject) => {
      onAbort = () => reject(unavailable(this.id, "timeout"));
      signal.addEventListener("abort", onAbort, { once: true });
    });
    const pending = call(signal);
    try {
      const out = await Promise.race([pending, deadline]);
      if (out.length === 0) throw unavailable(this.id, "empty response");
      return out;
    } catch (error) {
      if (isFieldcryptError(error)) throw error;
      if (signal.aborted) throw unavailable(this.id, "timeout");
      const kind = this.classify(error, opening);
      if (kind === REJECTED) throw new KeyUnwrapFailed(this.id);
      throw unavailable(this.id, kind);
    } finally {
      signal.removeEventListener("abort", onAbort);
      pending.catch(() => {});
    }
  }

  toString(): string {
    const { name, shown } = this.describe();
    return `${name}(${[this.id, ...Object.values(shown)].join(", ")})`;
  }

  toJSON(): { id: string; type: string } & Record<string, string> {
    const { type, shown, redacted } = this.describe();
    return { id: this.id, type, ...shown, [redacted]: "[redacted]" };
  }

  [inspect.custom](): string {
    const { name, shown, redacted } = this.describe();
    const fields = Object.entries({ id: this.id, ...shown }).map(([k, v]) => `${k}: ${JSON.stringify(v)}`);
    return `${name} { ${[...fields, `${redacted}: [redacted]`].join(", ")} }`;
  }
}
