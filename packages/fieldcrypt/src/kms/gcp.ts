/**
 * Google Cloud KMS root keys: `fieldcrypt/kms/gcp`. Needs the optional peer dependency
 * `@google-cloud/kms`.
 *
 * @module
 */

import type { KeyManagementServiceClient } from "@google-cloud/kms";
import { InvalidOption } from "../errors/index.js";
import { describeType } from "../internal/describe-type.js";
import { CloudRootKey, type CloudRootKeyDescription, REJECTED } from "./cloud-root-key.js";
import { failureKind, rootKeyIdOption, stringOption, timeoutOption, unavailable } from "./cloud-wrapped.js";
import { crc32c } from "./gcp-crc32c.js";

const KEY_NAME_RE = /^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+$/;

/** gRPC status codes by number (google-gax reports REST errors with these codes too). */
const STATUS_NAMES = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
] as const;

/** HTTP statuses of the REST transport, as Google maps them to status codes (AIP-193). */
const HTTP_STATUS_NAMES: Readonly<Record<number, string>> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  409: "ABORTED",
  429: "RESOURCE_EXHAUSTED",
  499: "CANCELLED",
  500: "INTERNAL",
  501: "UNIMPLEMENTED",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED",
};

/**
 * The status of a client error: gRPC errors carry a status code (0-16); the REST transport's HTTP
 * errors (GaxiosError) only an HTTP status, mapped back the way Google maps status codes to HTTP.
 */
function statusName(error: unknown): string | undefined {
  const e = error as { code?: unknown; status?: unknown } | null;
  if (typeof e?.code === "number" && e.code >= 0 && e.code < STATUS_NAMES.length) return STATUS_NAMES[e.code];
  const http = typeof e?.status === "number" ? e.status : e?.code;
  if (typeof http === "number" && http >= 400 && http < 600) return HTTP_STATUS_NAMES[http] ?? `HTTP ${http}`;
  return undefined;
}

/** An Int64Value from the client (a string, a number or a Long, depending on the transport). */
function int64(value: unknown): string | undefined {
  const inner = (value as { value?: unknown } | null | undefined)?.value;
  return inner === undefined || inner === null ? undefined : String(inner);
}

/** Options of {@link gcpKmsRootKey}. */
export interface GcpKmsRootKeyOptions {
  /** Id stored next to every data key this key wraps (default: `keyName`). Safe to print. */
  readonly id?: string | undefined;
  /** The CryptoKey: `projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>` (purpose `ENCRYPT_DECRYPT`). */
  readonly keyName: string;
  /** A configured `KeyManagementServiceClient` (gRPC or `fallback: true` REST). */
  readonly client: KeyManagementServiceClient;
  /** Time limit of one call, retries included, in milliseconds (default 10 000). */
  readonly timeoutMs?: number | undefined;
}

/**
 * A root key in Google Cloud KMS: data keys are wrapped with `encrypt` and unwrapped with `decrypt`,
 * the associated data passed as `additionalAuthenticatedData`. Every request and response carries
 * CRC-32C checksums, checked both ways. Create it with {@link gcpKmsRootKey}. `inspect`, `toJSON` and
 * `toString` show the ids only, never the client or its credentials. Exported from
 * `fieldcrypt/kms/gcp`.
 */
export class GcpKmsRootKey extends CloudRootKey {
  readonly keyName: string;
  readonly #client: KeyManagementServiceClient;

  /** @internal Use {@link gcpKmsRootKey}. */
  constructor(id: string, keyName: string, client: KeyManagementServiceClient, timeoutMs: number) {
    super(id, "FCG", timeoutMs);
    this.keyName = keyName;
    this.#client = client;
    Object.freeze(this);
  }

  protected async seal(plaintext: Buffer, aad: Buffer, signal: AbortSignal): Promise<Uint8Array> {
    const request = {
      name: this.keyName,
      plaintext,
      additionalAuthenticatedData: aad,
      plaintextCrc32c: { value: crc32c(plaintext) },
      additionalAuthenticatedDataCrc32c: { value: crc32c(aad) },
    };
    const [response] = await cancelledBy(signal, this.#client.encrypt(request, { timeout: this.timeoutMs }));
    const ciphertext = response.ciphertext;
    if (!(ciphertext instanceof Uint8Array)) throw unavailable(this.id, "empty response");
    if (
      response.verifiedPlaintextCrc32c !== true ||
      response.verifiedAdditionalAuthenticatedDataCrc32c !== true ||
      int64(response.ciphertextCrc32c) !== String(crc32c(ciphertext)) ||
      !(response.name ?? "").startsWith(`${this.keyName}/cryptoKeyVersions/`)
    ) {
      throw unavailable(this.id, "checksum mismatch");
    }
    return ciphertext;
  }

  protected async open(ciphertext: Buffer, aad: Buffer, signal: AbortSignal): Promise<Uint8Array> {
    const request = {
      name: this.keyName,
      ciphertext,
      additionalAuthenticatedData: aad,
      ciphertextCrc32c: { value: crc32c(ciphertext) },
      additionalAuthenticatedDataCrc32c: { value: crc32c(aad) },
    };
    const [response] = await cancelledBy(signal, this.#client.decrypt(request, { timeout: this.timeoutMs }));
    const plaintext = response.plaintext;
    if (!(plaintext instanceof Uint8Array)) throw unavailable(this.id, "empty response");
    if (int64(response.plaintextCrc32c) !== String(crc32c(plaintext))) {
      plaintext.fill(0);
      throw unavailable(this.id, "checksum mismatch");
    }
    return plaintext;
  }

  protected classify(error: unknown, opening: boolean): typeof REJECTED | string {
    const kind = statusName(error) ?? failureKind(error);
    if (opening && kind === "INVALID_ARGUMENT") return REJECTED;
    return kind === "DEADLINE_EXCEEDED" ? "timeout" : kind;
  }

  protected describe(): CloudRootKeyDescription {
    return { name: "GcpKmsRootKey", type: "gcp-kms", shown: { keyName: this.keyName }, redacted: "client" };
  }
}

/**
 * `pending`, cancelled when `signal` fires: google-gax applies `timeout` per attempt, the base's
 * deadline bounds the whole call, retries included, and this stops the retries behind it.
 */
function cancelledBy<T>(signal: AbortSignal, pending: Promise<T>): Promise<T> {
  signal.addEventListener("abort", () => (pending as { cancel?: () => void }).cancel?.(), { once: true });
  return pending;
}

/**
 * A root key held by Google Cloud KMS (a symmetric `ENCRYPT_DECRYPT` CryptoKey, software or HSM),
 * used through your `KeyManagementServiceClient`. One `encrypt` per new data key and one `decrypt`
 * per data key loaded (cache them with `createKeyCache`); never per cell. Exported from
 * `fieldcrypt/kms/gcp`.
 *
 * Errors: `KeyUnwrapFailed` when `decrypt` answers `INVALID_ARGUMENT` (wrong key, wrong associated
 * data, tampering); `RootKeyUnavailable` for everything else (`PERMISSION_DENIED`, `UNAVAILABLE`,
 * `RESOURCE_EXHAUSTED`, a disabled key version, a CRC-32C mismatch, `timeoutMs`), naming the status,
 * never its message.
 *
 * @example
 * ```ts
 * import { KeyManagementServiceClient } from "@google-cloud/kms";
 * import { gcpKmsRootKey } from "fieldcrypt/kms/gcp";
 * const root = gcpKmsRootKey({
 *   id: "gcp-2026",
 *   keyName: "projects/acme/locations/europe-west1/keyRings/app/cryptoKeys/fieldcrypt",
 *   client: new KeyManagementServiceClient(),
 * });
 * ```
 */
export function gcpKmsRootKey(options: GcpKmsRootKeyOptions): GcpKmsRootKey {
  if (typeof options !== "object" || options === null)
    throw new InvalidOption(`gcpKmsRootKey options must be an object (got ${describeType(options)})`);
  const keyName = stringOption(options.keyName, "keyName");
  if (!KEY_NAME_RE.test(keyName))
    throw new InvalidOption("keyName must look like projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>");
  const id = rootKeyIdOption(options.id ?? keyName);
  const client = options.client as unknown;
  if (
    typeof client !== "object" ||
    client === null ||
    typeof (client as { encrypt?: unknown }).encrypt !== "function" ||
    typeof (client as { decrypt?: unknown }).decrypt !== "function"
  )
    throw new InvalidOption(`client must be a KeyManagementServiceClient (got ${describeType(client)})`);
  return new GcpKmsRootKey(id, keyName, options.client, timeoutOption(options.timeoutMs));
}
