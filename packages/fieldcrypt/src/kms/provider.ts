/**
 * A root key (KEK) that wraps and unwraps data keys: a local key, a KMS key, an HSM key. Exported
 * (as a type) from `fieldcrypt/kms`.
 *
 * Both calls are async (KMS/HSM I/O) and happen once per data key — at creation, root rotation and
 * keyring loading — never per cell. `aad` binds the wrapped key to where it belongs (the data-key
 * store passes the key id and scope): unwrapping with other `aad` MUST fail. Failures SHOULD be
 * `KeyUnwrapFailed` (wrong key, wrong `aad`, tampering) or `RootKeyUnavailable` (service errors);
 * any other rejection is reported as `RootKeyUnavailable` by the store.
 *
 * @example
 * ```ts
 * const provider: RootKeyProvider = localRootKey({ id: "root-2026", key: process.env.FIELDCRYPT_ROOT_KEY! });
 * const wrapped = await provider.wrap(dataKey, aad);
 * ```
 */
export interface RootKeyProvider {
  /** Id of the root key, stored next to every data key it wraps. Safe to print. */
  readonly id: string;
  wrap(dataKey: Uint8Array, aad: Uint8Array): Promise<Uint8Array>;
  unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Uint8Array>;
}

/** Root key ids: 1-128 printable ASCII characters without spaces (room for KMS ARNs and URIs). */
export const ROOT_KEY_ID_RE = /^[\x21-\x7e]{1,128}$/;
export const ROOT_KEY_ID_RULE = "1-128 printable ASCII characters without spaces";
