/**
 * A loopback fake of Cloud KMS `Encrypt` / `Decrypt`, just enough for `@google-cloud/kms`, on both of
 * its transports: the REST API (`POST /v1/{name}:encrypt`, JSON with base64 bytes and Int64
 * checksums as strings; `fallback: true`) and gRPC (a real @grpc/grpc-js server loading the
 * client's own service.proto). It really encrypts with AES-256-GCM under its own key, binds the key
 * version and the additional authenticated data, checks every request CRC-32C, answers
 * `INVALID_ARGUMENT` (HTTP 400 with google.rpc.Status JSON, or gRPC status 3) on a mismatch, and
 * requires an `Authorization: Bearer` header (REST; the gRPC test channel is insecure, unauthenticated).
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { dirname, join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

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
  /** The REST port. */
  readonly port: number;
  /** The gRPC port. */
  readonly grpcPort: number;
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

/** An operation's outcome: a JSON-shaped response, or a google.rpc status name with a message. */
type Outcome = { ok: Record<string, unknown> } | { code: string; message: string };

const HTTP_OF: Record<string, number> = { INVALID_ARGUMENT: 400, NOT_FOUND: 404 };

/** The service.proto the client itself ships, with the common protos google-gax ships. */
function loadKmsService(): grpc.GrpcObject {
  const require = createRequire(import.meta.url);
  const kmsProtos = join(dirname(require.resolve("@google-cloud/kms/package.json")), "build/protos");
  const gaxProtos = join(dirname(require.resolve("google-gax")), "../protos");
  const definition = protoLoader.loadSync("google/cloud/kms/v1/service.proto", {
    includeDirs: [kmsProtos, gaxProtos],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition);
}

export async function startFakeGcpKms(): Promise<FakeGcpKms> {
  const key = randomBytes(32);
  const version = `${GCP_KEY_NAME}/cryptoKeyVersions/1`;
  const versionBytes = Buffer.from(version);
  const hung = new Set<ServerResponse>();
  const hungCalls = new Set<grpc.ServerUnaryCall<unknown, unknown>>();
  const state: FakeGcpKms = {
    host: "127.0.0.1",
    port: 0,
    grpcPort: 0,
    requests: [],
    fault: undefined,
    close: async () => {
      for (const res of hung) res.destroy();
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      grpcServer.forceShutdown();
    },
  };
  const invalid = (message: string): Outcome => ({ code: "INVALID_ARGUMENT", message });
  const checksumOk = (value: unknown, data: Buffer) => value === undefined || String(value) === crc32cSlow(data);
  const badChecksum = () => state.fault === "bad-checksum";

  /** Encrypt or Decrypt on a request with bytes as Buffers and checksums as decimal strings. */
  const operate = (method: "encrypt" | "decrypt", name: string, r: Record<string, unknown>): Outcome => {
    if (name !== GCP_KEY_NAME) return { code: "NOT_FOUND", message: "CryptoKey not found" };
    const bytes = (field: string) =>
      r[field] instanceof Uint8Array ? Buffer.from(r[field] as Uint8Array) : Buffer.alloc(0);
    const aad = bytes("additionalAuthenticatedData");
    if (!checksumOk(r.additionalAuthenticatedDataCrc32c, aad)) return invalid("checksum mismatch: aad");
    if (method === "encrypt") {
      const plaintext = bytes("plaintext");
      if (plaintext.length === 0) return invalid("plaintext is required");
      if (!checksumOk(r.plaintextCrc32c, plaintext)) return invalid("checksum mismatch: plaintext");
      const nonce = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", key, nonce);
      cipher.setAAD(Buffer.concat([versionBytes, Buffer.of(0), aad]));
      const sealed = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
      const ciphertext = Buffer.concat([Buffer.of(versionBytes.length), versionBytes, nonce, sealed]);
      return {
        ok: {
          name: version,
          ciphertext,
          ciphertextCrc32c: badChecksum() ? "1" : crc32cSlow(ciphertext),
          verifiedPlaintextCrc32c: r.plaintextCrc32c !== undefined,
          verifiedAdditionalAuthenticatedDataCrc32c: r.additionalAuthenticatedDataCrc32c !== undefined,
          protectionLevel: "SOFTWARE",
        },
      };
    }
    const ciphertext = bytes("ciphertext");
    if (!checksumOk(r.ciphertextCrc32c, ciphertext)) return invalid("checksum mismatch: ciphertext");
    const failed = invalid("Decryption failed: the ciphertext is invalid.");
    const versionLength = ciphertext[0] ?? 0;
    if (ciphertext.length < 1 + versionLength + 12 + 17) return failed;
    if (ciphertext.subarray(1, 1 + versionLength).toString() !== version) return failed;
    try {
      const decipher = createDecipheriv("aes-256-gcm", key, ciphertext.subarray(1 + versionLength, 13 + versionLength));
      decipher.setAAD(Buffer.concat([versionBytes, Buffer.of(0), aad]));
      decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
      const plaintext = Buffer.concat([
        decipher.update(ciphertext.subarray(13 + versionLength, ciphertext.length - 16)),
        decipher.final(),
      ]);
      return {
        ok: {
          plaintext,
          plaintextCrc32c: badChecksum() ? "1" : crc32cSlow(plaintext),
          usedPrimary: true,
          protectionLevel: "SOFTWARE",
        },
      };
    } catch {
      return failed;
    }
  };

  // REST: JSON in and out, bytes as base64, Int64 as strings.
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
    const request: Record<string, unknown> = {};
    for (const [field, value] of Object.entries(body)) {
      request[field] = /Crc32c$/.test(field) ? value : Buffer.from(String(value), "base64");
    }
    const outcome = operate(match[2] as "encrypt" | "decrypt", match[1] as string, request);
    if ("code" in outcome) return rpcError(res, HTTP_OF[outcome.code] ?? 500, outcome.code, outcome.message);
    const json: Record<string, unknown> = {};
    for (const [field, value] of Object.entries(outcome.ok))
      json[field] = value instanceof Uint8Array ? Buffer.from(value).toString("base64") : value;
    return send(res, 200, json);
  };

  // gRPC: the same operations behind the client's own service definition.
  const unary =
    (method: "encrypt" | "decrypt") =>
    (call: grpc.ServerUnaryCall<Record<string, unknown>, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const r = call.request;
      state.requests.push({ path: `grpc:${method}`, authorization: "", body: r });
      const fault = state.fault;
      if (fault === "hang") {
        hungCalls.add(call as grpc.ServerUnaryCall<unknown, unknown>);
        return;
      }
      if (fault === "reset") return callback({ code: grpc.status.UNAVAILABLE, details: "connection reset" });
      if (typeof fault === "object")
        return callback({
          code: grpc.status[fault.code as keyof typeof grpc.status] as number,
          details: fault.message,
        });
      const request: Record<string, unknown> = {};
      for (const [field, value] of Object.entries(r)) {
        request[field] = /Crc32c$/.test(field) ? (value as { value?: unknown } | null)?.value : value;
      }
      const outcome = operate(method, String(r.name), request);
      if ("code" in outcome)
        return callback({
          code: grpc.status[outcome.code as keyof typeof grpc.status] as number,
          details: outcome.message,
        });
      const response: Record<string, unknown> = {};
      for (const [field, value] of Object.entries(outcome.ok))
        response[field] = /Crc32c$/.test(field) ? { value } : value;
      return callback(null, response);
    };
  const kms = (
    loadKmsService() as { google: { cloud: { kms: { v1: { KeyManagementService: grpc.ServiceClientConstructor } } } } }
  ).google.cloud.kms.v1.KeyManagementService;
  const grpcServer = new grpc.Server();
  grpcServer.addService(kms.service, { Encrypt: unary("encrypt"), Decrypt: unary("decrypt") });
  const grpcPort = await new Promise<number>((resolve, reject) =>
    grpcServer.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) =>
      error ? reject(error) : resolve(port),
    ),
  );

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => rpcError(res, 500, "INTERNAL", "fake failed"));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  (state as { port: number }).port = (server.address() as AddressInfo).port;
  (state as { grpcPort: number }).grpcPort = grpcPort;
  return state;
}
