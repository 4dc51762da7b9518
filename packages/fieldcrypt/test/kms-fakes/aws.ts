/**
 * A loopback fake of the AWS KMS JSON 1.1 protocol (`X-Amz-Target: TrentService.Encrypt` /
 * `.Decrypt`), just enough for `@aws-sdk/client-kms`: it really encrypts with AES-256-GCM under its
 * own key, binds the key ARN and the encryption context into the tag, and answers a mismatch with
 * `InvalidCiphertextException` (HTTP 400, `__type`) or `IncorrectKeyException`. SigV4 signatures are
 * not verified, but every request must carry an `AWS4-HMAC-SHA256` Authorization header.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export const AWS_KEY_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
export const AWS_ALIAS = "alias/fieldcrypt-test";

/** A canned failure for the next requests: an HTTP status and a KMS `__type`, or a hang / a reset. */
export type AwsFault = { status: number; type: string; message: string } | "hang" | "reset";

export interface AwsRequestLog {
  target: string;
  authorization: string;
  body: Record<string, unknown>;
}

export interface FakeAwsKms {
  readonly endpoint: string;
  readonly requests: AwsRequestLog[];
  /** Every following request fails this way until `fault` is set back to undefined. */
  fault: AwsFault | undefined;
  close(): Promise<void>;
}

function canonicalContext(context: unknown): Buffer {
  const entries = Object.entries((context ?? {}) as Record<string, string>).sort(([a], [b]) => (a < b ? -1 : 1));
  return Buffer.from(JSON.stringify(entries), "utf8");
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/x-amz-json-1.1",
    "x-amzn-requestid": randomBytes(8).toString("hex"),
  });
  res.end(text);
}

function kmsError(res: ServerResponse, status: number, type: string, message: string): void {
  send(res, status, { __type: type, message });
}

export async function startFakeAwsKms(): Promise<FakeAwsKms> {
  const key = randomBytes(32);
  const hung = new Set<ServerResponse>();
  const state: FakeAwsKms = {
    endpoint: "",
    requests: [],
    fault: undefined,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hung) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };

  const resolveKey = (keyId: unknown): string | undefined =>
    keyId === AWS_KEY_ARN || keyId === AWS_ALIAS || keyId === AWS_KEY_ARN.split("/")[1] ? AWS_KEY_ARN : undefined;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const raw = await readBody(req);
    const target = String(req.headers["x-amz-target"] ?? "");
    const authorization = String(req.headers.authorization ?? "");
    if (req.method !== "POST" || req.headers["content-type"] !== "application/x-amz-json-1.1") {
      return kmsError(res, 400, "SerializationException", "expected POST application/x-amz-json-1.1");
    }
    if (!authorization.startsWith("AWS4-HMAC-SHA256 Credential=")) {
      return kmsError(res, 400, "MissingAuthenticationTokenException", "missing SigV4 Authorization");
    }
    const body = JSON.parse(raw.toString("utf8") || "{}") as Record<string, unknown>;
    state.requests.push({ target, authorization, body });
    const fault = state.fault;
    if (fault === "hang") {
      hung.add(res);
      return;
    }
    if (fault === "reset") {
      req.socket.destroy();
      return;
    }
    if (fault !== undefined) return kmsError(res, fault.status, fault.type, fault.message);

    const arn = resolveKey(body.KeyId);
    if (target === "TrentService.Encrypt") {
      if (arn === undefined) return kmsError(res, 400, "NotFoundException", "key not found");
      if (typeof body.Plaintext !== "string") return kmsError(res, 400, "ValidationException", "Plaintext required");
      const nonce = randomBytes(12);
      const cipher = createCipheriv("aes-256-gcm", key, nonce);
      cipher.setAAD(Buffer.concat([Buffer.from(arn), Buffer.of(0), canonicalContext(body.EncryptionContext)]));
      const sealed = Buffer.concat([cipher.update(Buffer.from(body.Plaintext, "base64")), cipher.final()]);
      const arnBytes = Buffer.from(arn);
      const blob = Buffer.concat([Buffer.of(arnBytes.length), arnBytes, nonce, sealed, cipher.getAuthTag()]);
      return send(res, 200, {
        CiphertextBlob: blob.toString("base64"),
        KeyId: arn,
        EncryptionAlgorithm: "SYMMETRIC_DEFAULT",
      });
    }
    if (target === "TrentService.Decrypt") {
      if (typeof body.CiphertextBlob !== "string") return kmsError(res, 400, "ValidationException", "blob required");
      const blob = Buffer.from(body.CiphertextBlob, "base64");
      const arnLength = blob[0] ?? 0;
      const blobArn = blob.subarray(1, 1 + arnLength).toString();
      if (blob.length < 1 + arnLength + 12 + 16 + 1 || blobArn !== AWS_KEY_ARN) {
        return kmsError(res, 400, "InvalidCiphertextException", "");
      }
      if (body.KeyId !== undefined && arn !== blobArn) {
        return kmsError(
          res,
          400,
          "IncorrectKeyException",
          "The key ID in the request does not identify the key used to encrypt",
        );
      }
      const nonce = blob.subarray(1 + arnLength, 13 + arnLength);
      try {
        const decipher = createDecipheriv("aes-256-gcm", key, nonce);
        decipher.setAAD(Buffer.concat([Buffer.from(blobArn), Buffer.of(0), canonicalContext(body.EncryptionContext)]));
        decipher.setAuthTag(blob.subarray(blob.length - 16));
        const plain = Buffer.concat([
          decipher.update(blob.subarray(13 + arnLength, blob.length - 16)),
          decipher.final(),
        ]);
        return send(res, 200, {
          Plaintext: plain.toString("base64"),
          KeyId: blobArn,
          EncryptionAlgorithm: "SYMMETRIC_DEFAULT",
        });
      } catch {
        return kmsError(res, 400, "InvalidCiphertextException", "");
      }
    }
    return kmsError(res, 400, "UnknownOperationException", "unknown operation");
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => kmsError(res, 500, "KMSInternalException", "fake failed"));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  (state as { endpoint: string }).endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}
