/**
 * A loopback fake of the Cloud KMS REST API (`POST /v1/{name}:encrypt` / `:decrypt`, JSON with
 * base64 bytes and Int64 checksums as strings), just enough for `@google-cloud/kms` with
 * `fallback: true`. It really encrypts with AES-256-GCM under its own key, binds the key version and
 * the additional authenticated data, checks every request CRC-32C, answers `INVALID_ARGUMENT` (HTTP
 * 400, google.rpc.Status JSON) on a mismatch, and requires an `Authorization: Bearer` header.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export const GCP_KEY_NAME = "projects/acme/locations/europe-west1/keyRings/app/cryptoKeys/fieldcrypt";

/** A canned failure: an HTTP status with a google.rpc status name, a hang, a reset or a bad checksum. */
export type GcpFault = { status: number; code: string; message: string } | "hang" | "reset" | "bad-checksum";

export interface GcpRequestLog {
  path: string;
  authorization: string;
  body: Record<string, unknown>;
}

export interface FakeGcpKms {
  readonly host: string;
  readonly port: number;
  readonly requests: GcpRequestLog[];
  fault: GcpFault | undefined;
  close(): Promise<void>;
}

/** CRC-32C bit by bit, independent of the table-driven one in src/kms/gcp.ts. */
function crc32cSlow(bytes: Uint8Array): string {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return String((crc ^ 0xffffffff) >>> 0);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json; charset=UTF-8" });
  res.end(JSON.stringify(body));
}

function rpcError(res: ServerResponse, status: number, code: string, message: string): void {
  send(res, status, { error: { code: status, message, status: code } });
}

export async function startFakeGcpKms(): Promise<FakeGcpKms> {
  const key = randomBytes(32);
  const version = `${GCP_KEY_NAME}/cryptoKeyVersions/1`;
  const hung = new Set<ServerResponse>();
  const state: FakeGcpKms = {
    host: "127.0.0.1",
    port: 0,
    requests: [],
    fault: undefined,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hung) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const raw = await readBody(req);
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const authorization = String(req.headers.authorization ?? "");
    if (!authorization.startsWith("Bearer ")) return rpcError(res, 401, "UNAUTHENTICATED", "no credentials");
    const body = JSON.parse(raw.toString("utf8") || "{}") as Record<string, unknown>;
    state.requests.push({ path, authorization, body });
    const fault = state.fault;
    if (fault === "hang") {
      hung.add(res);
      return;
    }
    if (fault === "reset") {
      req.socket.destroy();
      return;
    }
    if (typeof fault === "object") return rpcError(res, fault.status, fault.code, fault.message);
    const match = /^\/v1\/(.+):(encrypt|decrypt)$/.exec(decodeURIComponent(path));
    if (req.method !== "POST" || match === null) return rpcError(res, 404, "NOT_FOUND", "no such method");
    if (match[1] !== GCP_KEY_NAME) return rpcError(res, 404, "NOT_FOUND", "CryptoKey not found");
    const bytes = (field: string) =>
      Buffer.from(typeof body[field] === "string" ? (body[field] as string) : "", "base64");
    const aad = bytes("additionalAuthenticatedData");
    const checksumOk = (field: string, data: Buffer) => body[field] === undefined || body[field] === crc32cSlow(data);
    if (!checksumOk("additionalAuthenticatedDataCrc32c", aad))
      return rpcError(res, 400, "INVALID_ARGUMENT", "checksum mismatch: additional_authenticated_data");
    const versionBytes = Buffer.from(version);

    if (match[2] === "encrypt") {
      const plaintext = bytes("plaintext");
      if (plaintext.length === 0) return rpcError(res, 400, "INVALID_ARGUMENT", "plaintext is required");
      if (!checksumOk("plaintextCrc32c", plaintext)) return rpcError(res, 400, "INVALID_ARGUMENT", "checksum mismatch");
      const nonce = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", key, nonce);
      cipher.setAAD(Buffer.concat([versionBytes, Buffer.of(0), aad]));
      const sealed = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
      const ciphertext = Buffer.concat([Buffer.of(versionBytes.length), versionBytes, nonce, sealed]);
      return send(res, 200, {
        name: version,
        ciphertext: ciphertext.toString("base64"),
        ciphertextCrc32c: fault === "bad-checksum" ? "1" : crc32cSlow(ciphertext),
        verifiedPlaintextCrc32c: body.plaintextCrc32c !== undefined,
        verifiedAdditionalAuthenticatedDataCrc32c: body.additionalAuthenticatedDataCrc32c !== undefined,
        protectionLevel: "SOFTWARE",
      });
    }
    const ciphertext = bytes("ciphertext");
    if (!checksumOk("ciphertextCrc32c", ciphertext)) return rpcError(res, 400, "INVALID_ARGUMENT", "checksum mismatch");
    const failed = () => rpcError(res, 400, "INVALID_ARGUMENT", "Decryption failed: the ciphertext is invalid.");
    const versionLength = ciphertext[0] ?? 0;
    if (ciphertext.length < 1 + versionLength + 12 + 17) return failed();
    if (ciphertext.subarray(1, 1 + versionLength).toString() !== version) return failed();
    try {
      const decipher = createDecipheriv("aes-256-gcm", key, ciphertext.subarray(1 + versionLength, 13 + versionLength));
      decipher.setAAD(Buffer.concat([versionBytes, Buffer.of(0), aad]));
      decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
      const plaintext = Buffer.concat([
        decipher.update(ciphertext.subarray(13 + versionLength, ciphertext.length - 16)),
        decipher.final(),
      ]);
      return send(res, 200, {
        plaintext: plaintext.toString("base64"),
        plaintextCrc32c: fault === "bad-checksum" ? "1" : crc32cSlow(plaintext),
        usedPrimary: true,
        protectionLevel: "SOFTWARE",
      });
    } catch {
      return failed();
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => rpcError(res, 500, "INTERNAL", "fake failed"));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  (state as { port: number }).port = (server.address() as AddressInfo).port;
  return state;
}
