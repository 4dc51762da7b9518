/**
 * HashiCorp Vault / OpenBao transit root keys: `fieldcrypt/kms/vault`. Plain `fetch`, no SDK.
 *
 * @module
 */
import { InvalidOption, isFieldcryptError } from "../errors/index.js";
import { describeType } from "../internal/describe-type.js";
import { CloudRootKey, type CloudRootKeyDescription } from "./cloud-root-key.js";
import { failureKind, rootKeyIdOption, stringOption, timeoutOption, unavailable } from "./cloud-wrapped.js";
import { KeyUnwrapFailed } from "./errors.js";

/** Transit ciphertexts: `vault:v<version>:<base64>` (OpenBao keeps the `vault:` prefix). */
const CIPHERTEXT_RE = /^[a-z]+:v\d{1,10}:[A-Za-z0-9+/]+={0,2}$/;
const MOUNT_RE = /^[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)*$/;
/**
 * Transit's answers to a ciphertext that does not open: a failed tag check (400 since Vault 1.7;
 * 500 "1 error occurred: * cipher: message authentication failed" in 1.4-1.6, hashicorp/vault#10842)
 * or a malformed one ("invalid ciphertext: ...", 400).
 */
const UNWRAP_FAILURE_RE = /cipher: message authentication failed|^invalid ciphertext/;

/** Options of {@link vaultTransitRootKey}. */
export interface VaultTransitRootKeyOptions {
  /** Id stored next to every data key this key wraps (default: `vault:<mount>/<keyName>`). Safe to print. */
  readonly id?: string | undefined;
  /** Vault or OpenBao address, e.g. `https://vault.internal:8200`. */
  readonly address: string;
  /** A Vault token, sent only in the `X-Vault-Token` header. Give this or `getToken`. */
  readonly token?: string | undefined;
  /** Returns a current token (renewed by your auth method); called once per request. */
  readonly getToken?: (() => string | Promise<string>) | undefined;
  /** The transit key: an AEAD key type (`aes256-gcm96`, `aes128-gcm96`, `chacha20-poly1305`). */
  readonly keyName: string;
  /** Where transit is mounted (default `"transit"`). */
  readonly mount?: string | undefined;
  /** Vault Enterprise / OpenBao namespace, sent as `X-Vault-Namespace`. */
  readonly namespace?: string | undefined;
  /** Time limit of one request in milliseconds (default 10 000). */
  readonly timeoutMs?: number | undefined;
}

/**
 * A root key in the transit secrets engine of HashiCorp Vault or OpenBao: data keys are wrapped with
 * `encrypt/<key>` and unwrapped with `decrypt/<key>`, the associated data passed as
 * `associated_data` (AEAD key types, Vault ≥ 1.13). The `vault:vN:` ciphertext is kept as is, so a
 * transit key rotation needs no rewrap. Create it with {@link vaultTransitRootKey}. `inspect`,
 * `toJSON` and `toString` never show the token. Exported from `fieldcrypt/kms/vault`.
 */
export class VaultTransitRootKey extends CloudRootKey {
  readonly address: string;
  readonly mount: string;
  readonly keyName: string;
  readonly namespace: string | undefined;
  readonly #getToken: () => string | Promise<string>;

  /** @internal Use {@link vaultTransitRootKey}. */
  constructor(
    id: string,
    target: { address: string; mount: string; keyName: string; namespace: string | undefined },
    getToken: () => string | Promise<string>,
    timeoutMs: number,
  ) {
    super(id, "FCV", timeoutMs);
    this.address = target.address;
    this.mount = target.mount;
    this.keyName = target.keyName;
    this.namespace = target.namespace;
    this.#getToken = getToken;
    Object.freeze(this);
  }

  protected async seal(plain: Buffer, aad: Buffer, signal: AbortSignal): Promise<Uint8Array> {
    const body = { plaintext: plain.toString("base64"), associated_data: aad.toString("base64") };
    const ciphertext = (await this.#post("encrypt", body, signal))?.ciphertext;
    if (typeof ciphertext !== "string" || !CIPHERTEXT_RE.test(ciphertext)) throw unavailable(this.id, "bad response");
    return Buffer.from(ciphertext, "latin1");
  }

  protected async open(wrapped: Buffer, aad: Buffer, signal: AbortSignal): Promise<Uint8Array> {
    const ciphertext = wrapped.toString("latin1");
    if (!CIPHERTEXT_RE.test(ciphertext)) throw new KeyUnwrapFailed(this.id);
    const data = await this.#post("decrypt", { ciphertext, associated_data: aad.toString("base64") }, signal);
    const plaintext = data?.plaintext;
    if (typeof plaintext !== "string" || plaintext.length === 0) throw unavailable(this.id, "bad response");
    return Buffer.from(plaintext, "base64");
  }

  /** Foreign failures reach here only from `getToken` and `fetch`: transit's own answers are read in `#post`. */
  protected classify(error: unknown): string {
    return failureKind(error);
  }

  protected describe(): CloudRootKeyDescription {
    return {
      name: "VaultTransitRootKey",
      type: "vault-transit",
      shown: { address: this.address, mount: this.mount, keyName: this.keyName },
      redacted: "token",
    };
  }

  async #post(
    operation: "encrypt" | "decrypt",
    body: Record<string, string>,
    signal: AbortSignal,
  ): Promise<Record<string, unknown>> {
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "x-vault-token": await this.#token(),
    };
    if (this.namespace !== undefined) headers["x-vault-namespace"] = this.namespace;
    const url = `${this.address}/v1/${this.mount}/${operation}/${encodeURIComponent(this.keyName)}`;
    const response = await fetch(url, {
      method: "POST",
      headers,
      body: JSON.stringify(body),
      signal,
      redirect: "error",
    });
    const text = await response.text();
    let json: { data?: Record<string, unknown>; errors?: unknown; warnings?: unknown } | undefined;
    try {
      json = JSON.parse(text) as typeof json;
    } catch {
      json = undefined;
    }
    if (response.ok) {
      // Before 1.13 transit ignored associated_data (with this warning): the AAD would not be bound.
      const warnings = Array.isArray(json?.warnings) ? json.warnings.map(String) : [];
      if (warnings.some((w) => /unrecognized parameters.*associated_data/.test(w)))
        throw unavailable(this.id, "associated_data not supported by this transit engine");
      return json?.data ?? {};
    }
    const errors = Array.isArray(json?.errors) ? json.errors.map(String) : [];
    if (
      operation === "decrypt" &&
      (response.status === 400 || response.status === 500) &&
      errors.some((e) => UNWRAP_FAILURE_RE.test(e.replace(/^\d+ errors? occurred:\s*\*\s*/, "")))
    ) {
      throw new KeyUnwrapFailed(this.id);
    }
    throw unavailable(this.id, `HTTP ${response.status}`);
  }

  async #token(): Promise<string> {
    let token: string;
    try {
      token = await this.#getToken();
    } catch (error) {
      throw isFieldcryptError(error) ? error : unavailable(this.id, `getToken: ${failureKind(error)}`);
    }
    if (typeof token !== "string" || token.length === 0 || /[\r\n]/.test(token))
      throw new InvalidOption(`getToken must return a non-empty one-line string (got ${describeType(token)})`);
    return token;
  }
}

/**
 * A root key in the transit engine of HashiCorp Vault (≥ 1.13) or OpenBao, over its HTTP API with
 * `fetch`. The transit key must be an AEAD type (`aes256-gcm96`, the default) so that
 * `associated_data` binds each wrapped data key to its id and scope; do not make it `derived`.
 * One `encrypt` per new data key, one `decrypt` per data key loaded (cache them with
 * `createKeyCache`). Exported from `fieldcrypt/kms/vault`.
 *
 * Errors: `KeyUnwrapFailed` when transit rejects the ciphertext or associated data; everything else
 * (403, sealed or standby 5xx, 429, connection refused, `timeoutMs`) is `RootKeyUnavailable`, naming
 * the HTTP status or error code only — never the token, the response body or the payload.
 *
 * @example
 * ```ts
 * import { vaultTransitRootKey } from "fieldcrypt/kms/vault";
 * const root = vaultTransitRootKey({
 *   id: "vault-2026",
 *   address: "https://vault.internal:8200",
 *   getToken: () => readFile("/var/run/secrets/vault-token", "utf8"),
 *   keyName: "fieldcrypt",
 * });
 * ```
 */
export function vaultTransitRootKey(options: VaultTransitRootKeyOptions): VaultTransitRootKey {
  if (typeof options !== "object" || options === null)
    throw new InvalidOption(`vaultTransitRootKey options must be an object (got ${describeType(options)})`);
  let address: URL;
  try {
    address = new URL(stringOption(options.address, "address"));
  } catch (error) {
    if (isFieldcryptError(error)) throw error;
    throw new InvalidOption("address must be an http:// or https:// URL");
  }
  if ((address.protocol !== "http:" && address.protocol !== "https:") || address.username || address.password)
    throw new InvalidOption("address must be an http:// or https:// URL without credentials");
  const keyName = stringOption(options.keyName, "keyName");
  const mount = (options.mount === undefined ? "transit" : stringOption(options.mount, "mount")).replace(
    /^\/+|\/+$/g,
    "",
  );
  if (!MOUNT_RE.test(mount)) throw new InvalidOption("mount must be a path like transit or team/transit");
  const namespace = options.namespace === undefined ? undefined : stringOption(options.namespace, "namespace");
  const { token, getToken } = options;
  if ((token === undefined) === (getToken === undefined))
    throw new InvalidOption("give exactly one of token and getToken");
  if (getToken !== undefined && typeof getToken !== "function")
    throw new InvalidOption(`getToken must be a function (got ${describeType(getToken)})`);
  if (token !== undefined && (typeof token !== "string" || token.length === 0 || /[\r\n]/.test(token)))
    throw new InvalidOption(`token must be a non-empty one-line string (got ${describeType(token)})`);
  const id = rootKeyIdOption(options.id ?? `vault:${mount}/${keyName}`);
  const base = address.href.replace(/\/+$/, "");
  return new VaultTransitRootKey(
    id,
    { address: base, mount, keyName, namespace },
    getToken ?? (() => token as string),
    timeoutOption(options.timeoutMs),
  );
}
