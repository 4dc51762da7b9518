/**
 * AWS KMS root keys: `fieldcrypt/kms/aws`. Needs the optional peer dependency `@aws-sdk/client-kms`.
 *
 * @module
 */

import { inspect } from "node:util";
import { DecryptCommand, EncryptCommand, type KMSClient } from "@aws-sdk/client-kms";
import { InvalidOption } from "../errors/index.js";
import { describeType } from "../internal/describe-type.js";
import {
  bytesArg,
  failureKind,
  rootKeyIdOption,
  stringOption,
  timeoutOption,
  unavailable,
  wrappedBody,
  wrappedHeader,
} from "./cloud-wrapped.js";
import { KeyUnwrapFailed } from "./errors.js";
import type { RootKeyProvider } from "./provider.js";

/** The encryption-context key that carries the associated data (base64url) to KMS. */
export const AWS_AAD_CONTEXT_KEY = "fieldcrypt-aad";

/** KMS errors that mean "this ciphertext does not open under this key and context". */
const UNWRAP_FAILURES = new Set(["InvalidCiphertextException", "IncorrectKeyException"]);

/** Options of {@link awsKmsRootKey}. */
export interface AwsKmsRootKeyOptions {
  /** Id stored next to every data key this key wraps (default: `keyId`). Safe to print. */
  readonly id?: string | undefined;
  /** The KMS key: key id, key ARN, alias name or alias ARN (symmetric, `ENCRYPT_DECRYPT`). */
  readonly keyId: string;
  /** A configured `KMSClient` (region, credentials, retries, endpoint). */
  readonly client: KMSClient;
  /** Time limit of one call, retries included, in milliseconds (default 10 000). */
  readonly timeoutMs?: number | undefined;
}

/**
 * A root key in AWS KMS: data keys are wrapped with `Encrypt` and unwrapped with `Decrypt` under
 * the same `KeyId`; the associated data travels as the encryption context `fieldcrypt-aad`
 * (base64url), which KMS binds to the ciphertext. Create it with {@link awsKmsRootKey}. `inspect`,
 * `toJSON` and `toString` show the ids only, never the client or its credentials. Exported from
 * `fieldcrypt/kms/aws`.
 */
export class AwsKmsRootKey implements RootKeyProvider {
  readonly id: string;
  readonly keyId: string;
  readonly #client: KMSClient;
  readonly #header: Buffer;
  readonly #timeoutMs: number;

  /** @internal Use {@link awsKmsRootKey}. */
  constructor(id: string, keyId: string, client: KMSClient, timeoutMs: number) {
    this.id = id;
    this.keyId = keyId;
    this.#client = client;
    this.#header = wrappedHeader("FCA", id);
    this.#timeoutMs = timeoutMs;
    Object.freeze(this);
  }

  async wrap(dataKey: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    const plain = bytesArg(dataKey, "dataKey");
    if (plain.length === 0) throw new InvalidOption("dataKey must not be empty");
    const context = { [AWS_AAD_CONTEXT_KEY]: bytesArg(aad, "aad").toString("base64url") };
    const command = new EncryptCommand({ KeyId: this.keyId, Plaintext: plain, EncryptionContext: context });
    const blob = (await this.#send(command, false)).CiphertextBlob;
    if (!(blob instanceof Uint8Array) || blob.length === 0) throw unavailable(this.id, "empty response");
    return Buffer.concat([this.#header, blob]);
  }

  async unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Uint8Array> {
    const body = wrappedBody(this.#header, this.id, bytesArg(wrapped, "wrapped"));
    const context = { [AWS_AAD_CONTEXT_KEY]: bytesArg(aad, "aad").toString("base64url") };
    const command = new DecryptCommand({ KeyId: this.keyId, CiphertextBlob: body, EncryptionContext: context });
    const plain = (await this.#send(command, true)).Plaintext;
    if (!(plain instanceof Uint8Array) || plain.length === 0) throw unavailable(this.id, "empty response");
    return plain;
  }

  async #send<T extends EncryptCommand | DecryptCommand>(command: T, unwrapping: boolean) {
    const signal = AbortSignal.timeout(this.#timeoutMs);
    try {
      // One overload per command type: the cast keeps a single call site.
      return (await this.#client.send(command as EncryptCommand & DecryptCommand, { abortSignal: signal })) as {
        CiphertextBlob?: Uint8Array;
        Plaintext?: Uint8Array;
      };
    } catch (error) {
      const name = (error as { name?: unknown } | null)?.name;
      if (unwrapping && typeof name === "string" && UNWRAP_FAILURES.has(name)) throw new KeyUnwrapFailed(this.id);
      throw unavailable(this.id, signal.aborted ? "timeout" : failureKind(error));
    }
  }

  toString(): string {
    return `AwsKmsRootKey(${this.id}, ${this.keyId})`;
  }

  toJSON(): { id: string; type: "aws-kms"; keyId: string } {
    return { id: this.id, type: "aws-kms", keyId: this.keyId };
  }

  [inspect.custom](): string {
    return `AwsKmsRootKey { id: ${JSON.stringify(this.id)}, keyId: ${JSON.stringify(this.keyId)}, client: [redacted] }`;
  }
}

/**
 * A root key held by AWS KMS (a symmetric `ENCRYPT_DECRYPT` key), used through your `KMSClient`.
 * One `Encrypt` per new data key and one `Decrypt` per data key loaded (cache them with
 * `createKeyCache`); never per cell. Exported from `fieldcrypt/kms/aws`.
 *
 * Errors: `KeyUnwrapFailed` when KMS rejects the ciphertext or context (`InvalidCiphertextException`,
 * `IncorrectKeyException`); `RootKeyUnavailable` for everything else (access denied, throttling,
 * disabled key, network, `timeoutMs`), naming the exception, never its message. The encryption
 * context (base64url of the key id and scope) appears in CloudTrail in the clear.
 *
 * @example
 * ```ts
 * import { KMSClient } from "@aws-sdk/client-kms";
 * import { awsKmsRootKey } from "fieldcrypt/kms/aws";
 * const root = awsKmsRootKey({ id: "aws-2026", keyId: "alias/fieldcrypt", client: new KMSClient({}) });
 * ```
 */
export function awsKmsRootKey(options: AwsKmsRootKeyOptions): AwsKmsRootKey {
  if (typeof options !== "object" || options === null)
    throw new InvalidOption(`awsKmsRootKey options must be an object (got ${describeType(options)})`);
  const keyId = stringOption(options.keyId, "keyId");
  const id = rootKeyIdOption(options.id ?? keyId);
  const client = options.client as unknown;
  if (typeof client !== "object" || client === null || typeof (client as { send?: unknown }).send !== "function")
    throw new InvalidOption(`client must be a KMSClient (got ${describeType(client)})`);
  return new AwsKmsRootKey(id, keyId, options.client, timeoutOption(options.timeoutMs));
}
