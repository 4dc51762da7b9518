/**
 * AWS KMS root keys: `fieldcrypt/kms/aws`. Needs the optional peer dependency `@aws-sdk/client-kms`.
 *
 * @module
 */

import { DecryptCommand, EncryptCommand, type KMSClient } from "@aws-sdk/client-kms";
import { InvalidOption } from "../errors/index.js";
import { describeType } from "../internal/describe-type.js";
import { CloudRootKey, type CloudRootKeyDescription, REJECTED } from "./cloud-root-key.js";
import { failureKind, rootKeyIdOption, stringOption, timeoutOption, unavailable } from "./cloud-wrapped.js";

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
export class AwsKmsRootKey extends CloudRootKey {
  readonly keyId: string;
  readonly #client: KMSClient;

  /** @internal Use {@link awsKmsRootKey}. */
  constructor(id: string, keyId: string, client: KMSClient, timeoutMs: number) {
    super(id, "FCA", timeoutMs);
    this.keyId = keyId;
    this.#client = client;
    Object.freeze(this);
  }

  protected async seal(plain: Buffer, aad: Buffer, abortSignal: AbortSignal): Promise<Uint8Array> {
    const command = new EncryptCommand({ KeyId: this.keyId, Plaintext: plain, EncryptionContext: context(aad) });
    const blob = (await this.#client.send(command, { abortSignal })).CiphertextBlob;
    if (!(blob instanceof Uint8Array)) throw unavailable(this.id, "empty response");
    return blob;
  }

  protected async open(body: Buffer, aad: Buffer, abortSignal: AbortSignal): Promise<Uint8Array> {
    const command = new DecryptCommand({ KeyId: this.keyId, CiphertextBlob: body, EncryptionContext: context(aad) });
    const plain = (await this.#client.send(command, { abortSignal })).Plaintext;
    if (!(plain instanceof Uint8Array)) throw unavailable(this.id, "empty response");
    return plain;
  }

  protected classify(error: unknown, opening: boolean): typeof REJECTED | string {
    const name = (error as { name?: unknown } | null)?.name;
    return opening && typeof name === "string" && UNWRAP_FAILURES.has(name) ? REJECTED : failureKind(error);
  }

  protected describe(): CloudRootKeyDescription {
    return { name: "AwsKmsRootKey", type: "aws-kms", shown: { keyId: this.keyId }, redacted: "client" };
  }
}

/** The encryption context that carries `aad` (base64url) to KMS. */
function context(aad: Buffer): Record<string, string> {
  return { [AWS_AAD_CONTEXT_KEY]: aad.toString("base64url") };
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
